//! Everything written for people and other tools, one module per file format: the CSV tables, the
//! environment, run.json, results.json, the results folder's name, the terminal's short answer and its detailed table.

pub mod answer;
pub mod csv;
pub mod environment;
pub mod fleet_json;
pub mod folder;
pub mod results_json;
pub mod run_status;
pub mod table;
