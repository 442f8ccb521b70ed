//! Scenario files: TOML in, a validated `Scenario` out, or an error with file:line:column.

pub mod model;
pub use model::{Expect, Scenario};
pub mod testing;
