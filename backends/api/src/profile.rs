//! Where one inference spends its time, node by node, as the engine's own profiler says.
//!
//! Profiling slows engines down, so it never happens in a timed run: a session loaded with
//! [`LoadOptions::profile`](crate::LoadOptions) answers [`Session::profile`](crate::Session::profile) with the
//! time each of its nodes took over a number of runs. The names are the engine's: the harness relates them to
//! the model's graph and to operator classes afterwards.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// One node of the graph the engine executed, with the time it took over the profiled runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTime {
    /// The node's name as the engine reports it: often the model's node name, sometimes one the engine made.
    pub node: String,
    /// The operator as the engine names it (`Conv`, `FusedConv`, `DepthWise`, `jit_avx2_dw_FP32`).
    pub op_type: String,
    /// How often it ran over the profiled runs.
    pub calls: u64,
    /// Its time over all calls, in microseconds.
    pub total_us: f64,
}

/// What a profiled pass found: nodes in the order the engine first ran them. Built by the engine's session
/// (the harness records only `nodes`).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub nodes: Vec<NodeTime>,
    /// Where each (node, operator) is in `nodes`: a profiled run adds to every node, often thousands.
    index: HashMap<(String, String), usize>,
}

impl Profile {
    /// Adds one call of `node` to its total, creating it at the end the first time it is seen. The same name
    /// with another operator is another node (engines give a fused node its first member's name).
    pub fn add(&mut self, node: &str, op_type: &str, time: Duration) {
        let micros = time.as_secs_f64() * 1e6;
        self.add_micros(node, op_type, 1, micros);
    }

    /// Adds `calls` calls taking `micros` in all, for profilers that report microseconds.
    pub fn add_micros(&mut self, node: &str, op_type: &str, calls: u64, micros: f64) {
        let key = (node.to_string(), op_type.to_string());
        match self.index.get(&key) {
            Some(&at) => {
                self.nodes[at].calls += calls;
                self.nodes[at].total_us += micros;
            }
            None => {
                self.index.insert(key, self.nodes.len());
                self.nodes.push(NodeTime {
                    node: node.to_string(),
                    op_type: op_type.to_string(),
                    calls,
                    total_us: micros,
                });
            }
        }
    }
}

/// Whether a session can profile, as its engine says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profiling {
    /// The engine times its nodes itself, or lets the backend time them.
    Supported,
    /// It cannot, for the reason given (shown in the results where the profile would be).
    Unsupported(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_of_one_node_add_up_and_nodes_keep_their_first_order() {
        let mut profile = Profile::default();
        profile.add("b", "Relu", Duration::from_micros(3));
        profile.add("a", "Conv", Duration::from_micros(10));
        profile.add("b", "Relu", Duration::from_micros(5));
        profile.add_micros("b", "Clip", 2, 1.0);
        let rows: Vec<(&str, &str, u64, f64)> = profile
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.op_type.as_str(), n.calls, n.total_us))
            .collect();
        assert_eq!(
            rows,
            [
                ("b", "Relu", 2, 8.0),
                ("a", "Conv", 1, 10.0),
                ("b", "Clip", 2, 1.0)
            ]
        );
    }
}
