//! `--flink-conf` and `--flink-plan`: the files the flags name, read once, and every scenario
//! loaded with them merged in (errors shown where their cause is).

use crate::scenario::{Scenario, load_file};
use std::path::Path;

/// Reads the file a flag names into its cell (nothing without the flag).
pub(super) fn read_once<T>(
    cell: &std::sync::OnceLock<T>,
    path: Option<&Path>,
    read: fn(&Path) -> Result<T, crate::scenario::ScenarioError>,
) -> Result<(), crate::scenario::ScenarioError> {
    if let Some(p) = path {
        let _ = cell.set(read(p)?);
    }
    Ok(())
}

/// The `--flink-conf` file, read once.
pub(super) static FLINK_CONF: std::sync::OnceLock<crate::scenario::conf::FlinkConf> = std::sync::OnceLock::new();
/// The `--flink-plan` file, read once.
pub(super) static FLINK_PLAN: std::sync::OnceLock<crate::scenario::plan::FlinkPlan> = std::sync::OnceLock::new();

/// A scenario file's text with `--flink-plan` (its `[job]`) and `--flink-conf` (its `[flink]`)
/// merged in, and what each did.
fn merged_text(
    file: &Path,
) -> Result<
    (String, Option<crate::scenario::conf::Merged>, Option<crate::scenario::plan::PlanReport>),
    crate::scenario::ScenarioError,
> {
    let mut text = crate::scenario::read_text(file)?;
    let mut plan = None;
    if let Some(p) = FLINK_PLAN.get() {
        let m = crate::scenario::plan::merge(&text, p);
        text = m.text;
        plan = Some(m.report);
    }
    let conf = FLINK_CONF.get().map(|c| crate::scenario::conf::merge(&text, c));
    if let Some(m) = &conf {
        text = m.text.clone();
    }
    Ok((text, conf, plan))
}

/// Loads a scenario file with `--flink-plan` and `--flink-conf` merged in; an error is shown
/// where its cause is (in the YAML file for a key that came from there).
pub(crate) fn load_scenario(file: &Path) -> Result<Scenario, crate::scenario::ScenarioError> {
    if FLINK_CONF.get().is_none() && FLINK_PLAN.get().is_none() {
        return load_file(file);
    }
    let (text, conf, plan) = merged_text(file)?;
    let name = file.display().to_string();
    let mut sc = crate::scenario::parse_str(&name, &text).map_err(|e| match (&conf, FLINK_CONF.get()) {
        (Some(m), Some(c)) => m.remap(e, c),
        _ => e,
    })?;
    sc.flink_conf = conf.map(|m| m.report);
    sc.flink_plan = plan;
    Ok(sc)
}

/// A scenario file's text with `--flink-plan` and `--flink-conf` merged in (what `explore` and
/// `sweep` draw from, so the files they write hold them), once it is known to load.
pub(crate) fn scenario_text(file: &Path) -> Result<String, crate::scenario::ScenarioError> {
    if FLINK_CONF.get().is_none() && FLINK_PLAN.get().is_none() {
        return crate::scenario::read_text(file);
    }
    load_scenario(file)?;
    Ok(merged_text(file)?.0)
}
