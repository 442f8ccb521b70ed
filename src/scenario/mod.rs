//! Scenario files: TOML in, a validated `Scenario` out, or an error with file:line:column.

pub mod budget;
pub mod conf;
pub mod load;
pub mod model;
pub mod plan;
pub mod testing;

pub use load::{ScenarioError, load_file, parse_str, read_text};
pub use model::{Expect, Scenario};
