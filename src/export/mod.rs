//! Everything written for people and other tools: CSV tables, the environment, the terminal table.

pub mod csv;
pub mod environment;
pub mod folder;
pub mod table;
