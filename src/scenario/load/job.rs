//! The `[job]` table: operators, their kinds and the fields of each kind, inputs and edges, the
//! source rates and record counts against the limits; and subtask names (`op[i]`, `op[a-b]`) as
//! faults and expectations write them.

use super::schema::RawJob;
use super::{Cx, DAY_US, MAX_KEYS, MAX_OPERATORS, MAX_PARALLELISM, MAX_RECORDS, MAX_SUBTASKS, Res};
use crate::job::graph::SubtaskRef;
use crate::job::spec::{
    DEFAULT_STATE_BYTES_PER_KEY, EdgeKind, JobSpec, MAX_STATE_BYTES_PER_KEY, OperatorId, OperatorKind, OperatorSpec,
    SinkSemantic, SourceSpec,
};
use toml::Spanned;

impl Cx<'_> {
    pub(super) fn job(
        &self,
        raw: &Spanned<RawJob>,
        chaining: bool,
        max_p: Option<u32>,
        default_p: u32,
        duration: Option<u64>,
    ) -> Res<(JobSpec, u64)> {
        let ops_raw = &raw.get_ref().operators;
        if ops_raw.is_empty() {
            return self.err(raw.span(), "the job needs at least one operator");
        }
        if ops_raw.len() > MAX_OPERATORS {
            return self.err(ops_raw[MAX_OPERATORS].span(), format!("at most {MAX_OPERATORS} operators per job"));
        }
        let mut operators: Vec<OperatorSpec> = Vec::new();
        let mut records: u128 = 0;
        let mut subtasks: u64 = 0;
        // Without a `duration`, the run lasts until the last bounded source's last record.
        let mut last_append_us: u64 = 0;
        for sop in ops_raw {
            let o = sop.get_ref();
            let name = o.name.get_ref();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return self.err_hint(
                    o.name.span(),
                    format!("invalid operator name {name:?}"),
                    "names use letters, digits, `_` and `-`",
                );
            }
            if operators.iter().any(|x| &x.name == name) {
                return self.err(o.name.span(), format!("operator `{name}` is declared twice"));
            }
            let parallelism = match &o.parallelism {
                None => default_p,
                Some(p) if (1..=MAX_PARALLELISM).contains(p.get_ref()) => *p.get_ref() as u32,
                Some(p) => return self.err(p.span(), format!("`parallelism` must be between 1 and {MAX_PARALLELISM}")),
            };
            subtasks += u64::from(parallelism);
            let kind_name = o.kind.get_ref().as_str();
            let is_source = kind_name == "source";
            let is_keyed = matches!(kind_name, "keyed-count" | "keyed-sum");
            // Fields that belong to one kind only.
            let only = |present: bool, field: &str, owner: &str, ok: bool| -> Res<()> {
                if present && !ok {
                    return self.err(
                        sop.span(),
                        format!("`{field}` is only for {owner} (operator `{name}` is a {kind_name})"),
                    );
                }
                Ok(())
            };
            only(o.partitions.is_some(), "partitions", "sources", is_source)?;
            only(o.rate.is_some(), "rate", "sources", is_source)?;
            only(o.keys.is_some(), "keys", "sources", is_source)?;
            only(o.catch_up_rate.is_some(), "catch-up-rate", "sources", is_source)?;
            only(o.records.is_some(), "records", "sources", is_source)?;
            only(o.multiply.is_some() || o.add.is_some(), "multiply/add", "maps", kind_name == "map")?;
            only(o.modulo.is_some() || o.remainder.is_some(), "modulo/remainder", "filters", kind_name == "filter")?;
            only(o.semantic.is_some(), "semantic", "sinks", kind_name == "sink")?;
            only(o.state_per_key.is_some(), "state-per-key", "keyed operators", is_keyed)?;
            let state_bytes_per_key = match &o.state_per_key {
                None => DEFAULT_STATE_BYTES_PER_KEY,
                Some(s) => match s.get_ref().trim().parse::<bytesize::ByteSize>() {
                    Ok(b) if (1..=MAX_STATE_BYTES_PER_KEY).contains(&b.0) => b.0,
                    _ => {
                        return self.err_hint(
                            s.span(),
                            format!("invalid `state-per-key` {:?}", s.get_ref()),
                            "a size from 1B to 1GiB per key: \"32B\", \"4KB\", \"1MiB\"",
                        );
                    }
                },
            };
            let kind = match kind_name {
                "source" => {
                    let rate = match &o.rate {
                        None => {
                            return self.err_hint(
                                sop.span(),
                                format!("source `{name}` needs a `rate`"),
                                "rate = \"1000/s\"",
                            );
                        }
                        Some(r) => self.rate(r, "rate")?,
                    };
                    let partitions = match &o.partitions {
                        None => parallelism,
                        Some(p) if (1..=10_000).contains(p.get_ref()) => *p.get_ref() as u32,
                        Some(p) => return self.err(p.span(), "`partitions` must be between 1 and 10000"),
                    };
                    let keys = match &o.keys {
                        None => 100,
                        Some(k) if (1..=MAX_KEYS).contains(k.get_ref()) => *k.get_ref() as u32,
                        Some(k) => return self.err(k.span(), format!("`keys` must be between 1 and {MAX_KEYS}")),
                    };
                    let share = rate.div_ceil(u64::from(parallelism));
                    let catch_up = match &o.catch_up_rate {
                        None => share * 10,
                        Some(r) => {
                            let c = self.rate(r, "catch-up-rate")?;
                            if c < share {
                                return self.err_hint(
                                    r.span(),
                                    format!("`catch-up-rate` {c}/s is below this source's share of the rate ({share}/s per subtask)"),
                                    "a source that reads slower than its log grows never catches up",
                                );
                            }
                            c
                        }
                    };
                    let bounded = match &o.records {
                        None => None,
                        Some(n) if (1..=MAX_RECORDS as u64).contains(n.get_ref()) => Some(*n.get_ref()),
                        Some(n) => return self.err(n.span(), format!("`records` must be between 1 and {MAX_RECORDS}")),
                    };
                    let appended = match (bounded, duration) {
                        (Some(n), Some(d)) => u128::from(n).min(u128::from(rate) * u128::from(d) / 1_000_000),
                        (Some(n), None) => u128::from(n),
                        (None, Some(d)) => u128::from(rate) * u128::from(d) / 1_000_000,
                        (None, None) => {
                            return self.err_hint(
                                sop.span(),
                                format!("source `{name}` has no `records` and the scenario no `duration`"),
                                "set duration = \"30s\" (the log grows that long) or records = N (a bounded source)",
                            );
                        }
                    };
                    if let Some(n) = bounded {
                        last_append_us = last_append_us.max((u128::from(n) * 1_000_000 / u128::from(rate)) as u64 + 1);
                    }
                    records += appended;
                    if records > MAX_RECORDS {
                        return self.err_hint(
                            o.rate.as_ref().map_or(sop.span(), |r| r.span()),
                            format!("the sources would append {records} records over the duration; the limit is {MAX_RECORDS}"),
                            "lower the rate or the duration",
                        );
                    }
                    OperatorKind::Source(SourceSpec {
                        partitions,
                        rate_per_s: rate,
                        keys,
                        catch_up_rate_per_s: catch_up,
                        records: bounded,
                    })
                }
                "map" => OperatorKind::Map { multiply: o.multiply.unwrap_or(1), add: o.add.unwrap_or(0) },
                "filter" => {
                    let Some(m) = &o.modulo else {
                        return self.err_hint(
                            sop.span(),
                            format!("filter `{name}` needs a `modulo`"),
                            "modulo = 2, remainder = 0 keeps even values",
                        );
                    };
                    if *m.get_ref() < 1 {
                        return self.err(m.span(), "`modulo` must be at least 1");
                    }
                    let remainder = o.remainder.as_ref().map_or(0, |r| *r.get_ref());
                    if remainder < 0 || remainder >= *m.get_ref() {
                        let span = o.remainder.as_ref().map_or(m.span(), |r| r.span());
                        return self.err(span, "`remainder` must be in 0..modulo");
                    }
                    OperatorKind::Filter { modulo: *m.get_ref(), remainder }
                }
                "keyed-count" => OperatorKind::KeyedCount,
                "keyed-sum" => OperatorKind::KeyedSum,
                "sink" => OperatorKind::Sink(match o.semantic.as_ref().map(|s| s.get_ref().as_str()) {
                    None | Some("two-phase-commit") => SinkSemantic::TwoPhaseCommit,
                    Some("append") => SinkSemantic::Append,
                    Some("upsert") => SinkSemantic::Upsert,
                    Some(_) => {
                        let span = o.semantic.as_ref().map_or(sop.span(), |s| s.span());
                        return self.err_hint(
                            span,
                            "invalid sink `semantic`",
                            "\"two-phase-commit\", \"append\" or \"upsert\"",
                        );
                    }
                }),
                _ => {
                    return self.err_hint(
                        o.kind.span(),
                        format!("unknown operator kind {kind_name:?}"),
                        "one of source, map, filter, keyed-count, keyed-sum, sink",
                    );
                }
            };
            let input = match (&o.input, is_source) {
                (Some(i), true) => return self.err(i.span(), "a source reads its log; it takes no `input`"),
                (None, false) => {
                    return self.err_hint(
                        sop.span(),
                        format!("operator `{name}` needs an `input`"),
                        "input = \"<an operator declared earlier>\"",
                    );
                }
                (None, true) => {
                    if let Some(e) = &o.edge {
                        return self.err(e.span(), "a source has no input edge");
                    }
                    None
                }
                (Some(i), false) => {
                    let Some(idx) = operators.iter().position(|x| &x.name == i.get_ref()) else {
                        let later = ops_raw.iter().any(|x| x.get_ref().name.get_ref() == i.get_ref());
                        let hint = if later {
                            "inputs must be declared before the operators that read them".to_string()
                        } else {
                            let names: Vec<&str> = operators.iter().map(|x| x.name.as_str()).collect();
                            format!("declared so far: {}", names.join(", "))
                        };
                        return self.err_hint(
                            i.span(),
                            format!("`input` names no earlier operator: {:?}", i.get_ref()),
                            hint,
                        );
                    };
                    if matches!(operators[idx].kind, OperatorKind::Sink(_)) {
                        return self.err(i.span(), "a sink has no output to read from");
                    }
                    let edge = match &o.edge {
                        None if is_keyed => EdgeKind::Hash,
                        // StreamGraph.addEdgeInternal: no partitioner given means forward between
                        // equal parallelisms and rebalance otherwise.
                        None if operators[idx].parallelism == parallelism => EdgeKind::Forward,
                        None => EdgeKind::Rebalance,
                        Some(e) => match e.get_ref().as_str() {
                            "forward" => EdgeKind::Forward,
                            "hash" => EdgeKind::Hash,
                            "rebalance" => EdgeKind::Rebalance,
                            "rescale" => EdgeKind::Rescale,
                            "broadcast" => EdgeKind::Broadcast,
                            _ => {
                                return self.err_hint(
                                    e.span(),
                                    "invalid `edge`",
                                    "one of forward, hash, rebalance, rescale, broadcast",
                                );
                            }
                        },
                    };
                    let edge_span = o.edge.as_ref().map_or(sop.span(), |e| e.span());
                    if is_keyed && edge != EdgeKind::Hash {
                        return self.err_hint(
                            edge_span,
                            "keyed state needs a keyBy: the edge into a keyed operator must be \"hash\"",
                            "edge = \"hash\"",
                        );
                    }
                    // Every record of a broadcast edge reaches every consumer: keyed state
                    // downstream would count each record once per consumer, which the oracle does
                    // not model yet (a broadcast feeds stateless operators and sinks).
                    let mut up = Some((idx, edge));
                    while let Some((at, e)) = up {
                        if is_keyed && e == EdgeKind::Broadcast {
                            return self.err_hint(
                                edge_span,
                                format!("keyed operator `{name}` downstream of a broadcast edge"),
                                "not modelled yet: a broadcast edge may feed only maps, filters and sinks",
                            );
                        }
                        up = operators[at].input.map(|(i, e)| (i.0 as usize, e));
                    }
                    if edge == EdgeKind::Forward && operators[idx].parallelism != parallelism {
                        return self.err_hint(
                            edge_span,
                            format!(
                                "forward edge between `{}` (parallelism {}) and `{name}` (parallelism {parallelism})",
                                operators[idx].name, operators[idx].parallelism
                            ),
                            "forward needs equal parallelism (Flink refuses it too); use edge = \"rebalance\", or leave `edge` out (Flink then picks rebalance)",
                        );
                    }
                    Some((OperatorId(idx as u32), edge))
                }
            };
            let slot_sharing_group = match &o.slot_sharing_group {
                None => None,
                Some(g) if g.get_ref().trim().is_empty() || g.get_ref().len() > 64 => {
                    return self.err(g.span(), "`slot-sharing-group` takes a name (1 to 64 characters)");
                }
                // Flink's own default group is the same as none.
                Some(g) if g.get_ref() == "default" => None,
                Some(g) => Some(g.get_ref().clone()),
            };
            // An upsert sink writes one row per key: the key's running aggregate, which reaches
            // it in order only from a keyed aggregation through forward maps.
            if matches!(kind, OperatorKind::Sink(SinkSemantic::Upsert)) {
                let mut at = input;
                let keyed = loop {
                    match at {
                        Some((i, EdgeKind::Forward)) => match operators[i.0 as usize].kind {
                            OperatorKind::KeyedCount | OperatorKind::KeyedSum => break true,
                            OperatorKind::Map { .. } => at = operators[i.0 as usize].input,
                            _ => break false,
                        },
                        _ => break false,
                    }
                };
                if !keyed {
                    let span = o.semantic.as_ref().map_or(sop.span(), |s| s.span());
                    return self.err_hint(
                        span,
                        format!("upsert sink `{name}` is not fed by a keyed aggregation"),
                        "an upsert sink writes one row per key: put it after a keyed-count or keyed-sum, through forward edges and maps only",
                    );
                }
            }
            operators.push(OperatorSpec {
                name: name.clone(),
                kind,
                parallelism,
                input,
                state_bytes_per_key,
                slot_sharing_group,
            });
        }
        if subtasks > u64::from(MAX_SUBTASKS) {
            return self.err(raw.span(), format!("the job has {subtasks} subtasks; the limit is {MAX_SUBTASKS}"));
        }
        if !operators.iter().any(|o| matches!(o.kind, OperatorKind::Source(_))) {
            return self.err(raw.span(), "the job needs at least one source");
        }
        if let Some(m) = max_p {
            let widest = operators.iter().map(|o| o.parallelism).max().unwrap_or(1);
            if widest > m {
                return self.err(
                    raw.span(),
                    format!("\"pipeline.max-parallelism\" {m} is below the parallelism {widest} of an operator"),
                );
            }
        }
        let duration_us = duration.unwrap_or(last_append_us).min(DAY_US);
        Ok((JobSpec { operators, max_parallelism: max_p, chaining }, duration_us))
    }

    fn rate(&self, r: &Spanned<String>, what: &str) -> Res<u64> {
        let s = r.get_ref().trim();
        let n = s.strip_suffix("/s").and_then(|n| n.trim().replace('_', "").parse::<u64>().ok());
        match n {
            Some(n) if (1..=10_000_000).contains(&n) => Ok(n),
            Some(_) => self.err(r.span(), format!("`{what}` must be between 1/s and 10000000/s")),
            None => self.err_hint(r.span(), format!("invalid `{what}` {s:?}"), "rates look like \"1000/s\""),
        }
    }

    pub(super) fn subtask_ref(&self, s: &Spanned<String>, job: &JobSpec) -> Res<SubtaskRef> {
        let refs = self.subtask_refs(s, job)?;
        if refs.len() != 1 || !s.get_ref().contains('[') {
            return self.err_hint(
                s.span(),
                format!("{:?} names more than one subtask", s.get_ref()),
                "name one subtask: \"map[2]\"",
            );
        }
        Ok(refs[0])
    }

    /// `op`, `op[i]` or `op[a-b]` (0-based, both ends included).
    pub(super) fn subtask_refs(&self, s: &Spanned<String>, job: &JobSpec) -> Res<Vec<SubtaskRef>> {
        let text = s.get_ref().trim();
        let (name, range) = match text.split_once('[') {
            None => (text, None),
            Some((n, rest)) => match rest.strip_suffix(']') {
                Some(r) => (n, Some(r)),
                None => {
                    return self.err_hint(
                        s.span(),
                        format!("cannot read subtask {text:?}"),
                        "write \"map[2]\" or \"map[0-3]\" (both ends included)",
                    );
                }
            },
        };
        let Some(op) = job.operators.iter().position(|o| o.name == name) else {
            let names: Vec<&str> = job.operators.iter().map(|o| o.name.as_str()).collect();
            return self.err_hint(
                s.span(),
                format!("no operator named {name:?}"),
                format!("operators: {}", names.join(", ")),
            );
        };
        let p = job.operators[op].parallelism;
        let (a, b) = match range {
            None => (0, p),
            Some(r) => {
                if let Some((a, b)) = r.split_once("..") {
                    // The old half-open notation: refuse it rather than guess which end is meant.
                    let hint = match (a.trim().parse::<u32>(), b.trim_start_matches('=').trim().parse::<u32>()) {
                        (Ok(a), Ok(b)) if b > a && !r.contains("..=") => {
                            format!("ranges are written a-b with both ends included: \"{name}[{a}-{}]\"", b - 1)
                        }
                        _ => "ranges are written a-b with both ends included, e.g. \"map[0-3]\"".to_string(),
                    };
                    return self.err_hint(s.span(), format!("cannot read subtask range {text:?}"), hint);
                }
                let parsed = match r.split_once('-') {
                    Some((a, b)) => a.trim().parse::<u32>().ok().zip(b.trim().parse::<u32>().ok().map(|b| b + 1)),
                    None => r.trim().parse::<u32>().ok().map(|i| (i, i.saturating_add(1))),
                };
                match parsed {
                    Some((a, b)) if a < b && b <= p => (a, b),
                    Some(_) => {
                        return self.err_hint(
                            s.span(),
                            format!("{text:?} is out of range: `{name}` has subtasks 0-{}", p - 1),
                            "indices are 0-based; a-b includes both ends",
                        );
                    }
                    None => {
                        return self.err_hint(
                            s.span(),
                            format!("cannot read subtask {text:?}"),
                            "write \"map[2]\" or \"map[0-3]\" (both ends included)",
                        );
                    }
                }
            }
        };
        Ok((a..b).map(|index| SubtaskRef { operator: OperatorId(op as u32), index }).collect())
    }
}
