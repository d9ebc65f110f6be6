use crate::BackendError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Engine-specific settings from a scenario, kept as text until the engine reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineOptions(pub BTreeMap<String, String>);

impl EngineOptions {
    /// Refuses any key the engine does not know, so that a typo is never silently ignored.
    pub fn ensure_known(&self, engine: &str, known: &[&str]) -> Result<(), BackendError> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(key) => Err(BackendError::Option {
                engine: engine.to_string(),
                reason: format!(
                    "unknown option `{key}` (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            }),
        }
    }

    pub fn get_bool(&self, engine: &str, key: &str) -> Result<Option<bool>, BackendError> {
        self.get_parsed(engine, key, "true or false")
    }

    pub fn get_usize(&self, engine: &str, key: &str) -> Result<Option<usize>, BackendError> {
        self.get_parsed(engine, key, "a whole number")
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn get_parsed<T: std::str::FromStr>(
        &self,
        engine: &str,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, BackendError> {
        self.0
            .get(key)
            .map(|text| {
                text.parse().map_err(|_| BackendError::Option {
                    engine: engine.to_string(),
                    reason: format!("option `{key}` must be {expected}, not `{text}`"),
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> EngineOptions {
        EngineOptions(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = options(&[("spinn", "true")])
            .ensure_known("ort", &["spin"])
            .unwrap_err();
        assert_eq!(err.to_string(), "ort: unknown option `spinn` (known: spin)");
    }

    #[test]
    fn typed_getters_parse_or_explain() {
        let o = options(&[("spin", "false"), ("n", "x")]);
        assert_eq!(o.get_bool("ort", "spin").unwrap(), Some(false));
        assert_eq!(o.get_bool("ort", "absent").unwrap(), None);
        let err = o.get_usize("ort", "n").unwrap_err();
        assert!(err
            .to_string()
            .contains("`n` must be a whole number, not `x`"));
    }
}
