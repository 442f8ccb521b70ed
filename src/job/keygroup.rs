//! Key groups, exactly as Flink assigns them (`KeyGroupRangeAssignment`, `MathUtils.murmurHash`).
//! Keys are Java `Integer`s, so a key's `hashCode()` is its value.

/// Flink's `MathUtils.murmurHash(int)`: one round of murmur3 on the key's hash code.
pub fn murmur_hash(code: i32) -> i32 {
    let mut code = code.wrapping_mul(0xcc9e_2d51_u32 as i32);
    code = code.rotate_left(15);
    code = code.wrapping_mul(0x1b87_3593);
    code = code.rotate_left(13);
    code = code.wrapping_mul(5).wrapping_add(0xe654_6b64_u32 as i32);
    code ^= 4;
    code = bit_mix(code);
    if code >= 0 {
        code
    } else if code != i32::MIN {
        -code
    } else {
        0
    }
}

/// Flink's `MathUtils.bitMix`: the murmur3 finaliser.
fn bit_mix(mut v: i32) -> i32 {
    v ^= ((v as u32) >> 16) as i32;
    v = v.wrapping_mul(0x85eb_ca6b_u32 as i32);
    v ^= ((v as u32) >> 13) as i32;
    v = v.wrapping_mul(0xc2b2_ae35_u32 as i32);
    v ^= ((v as u32) >> 16) as i32;
    v
}

/// `assignToKeyGroup`: the key group of an `Integer` key.
pub fn key_group(key: u32, max_parallelism: u32) -> u32 {
    (murmur_hash(key as i32) as u32) % max_parallelism
}

/// `computeOperatorIndexForKeyGroup`: which subtask owns key group `kg`.
pub fn operator_index(max_parallelism: u32, parallelism: u32, kg: u32) -> u32 {
    (u64::from(kg) * u64::from(parallelism) / u64::from(max_parallelism)) as u32
}

/// `computeDefaultMaxParallelism`: parallelism × 1.5 rounded up to a power of two, clamped to
/// [128, 32768].
pub fn default_max_parallelism(parallelism: u32) -> u32 {
    let p = parallelism + parallelism / 2;
    p.next_power_of_two().clamp(128, 32768)
}

/// The subtask of an operator with `parallelism` that owns `key`.
pub fn subtask_for_key(key: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    operator_index(max_parallelism, parallelism, key_group(key, max_parallelism))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_max_parallelism_matches_flink() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(4), 128);
        assert_eq!(default_max_parallelism(100), 256);
        assert_eq!(default_max_parallelism(1000), 2048);
        assert_eq!(default_max_parallelism(30000), 32768);
    }

    #[test]
    fn murmur_hash_matches_flink_values() {
        // Flink MathUtils.murmurHash, evaluated with Java int arithmetic.
        assert_eq!(murmur_hash(0), 593_689_054);
        assert_eq!(murmur_hash(1), 68_075_478);
        assert_eq!(key_group(42, 128), 29);
    }

    #[test]
    fn key_groups_cover_all_subtasks_in_contiguous_ranges() {
        let (maxp, p) = (128, 4);
        let owners: Vec<u32> = (0..maxp).map(|kg| operator_index(maxp, p, kg)).collect();
        assert_eq!(owners[0], 0);
        assert_eq!(owners[31], 0);
        assert_eq!(owners[32], 1);
        assert_eq!(owners[127], 3);
        assert!(owners.windows(2).all(|w| w[0] <= w[1]));
    }

    /// KeyGroupRangeAssignmentTest / KeyGroupStreamPartitionerTest: a keyBy routes by the
    /// consuming operator's own max parallelism, so the same key can land on different subtask
    /// indexes of two operators with the same parallelism but different max parallelism.
    #[test]
    fn routing_uses_the_consumers_max_parallelism() {
        let differs = (0..1000u32).any(|k| subtask_for_key(k, 128, 3) != subtask_for_key(k, 256, 3));
        assert!(differs, "max parallelism 128 and 256 split keys differently");
        let graph = crate::job::graph::JobGraph::build(&{
            let mut sc = crate::scenario::testing::keyed_job(2, 2);
            sc.job.operators[1].parallelism = 200;
            sc.job.operators[2].parallelism = 200;
            sc.job
        });
        // parallelism 2 → 128 key groups; parallelism 200 → 512 (200 × 1.5 rounded up to 2^n).
        assert_eq!(graph.max_parallelism[0], 128);
        assert_eq!(graph.max_parallelism[1], 512);
    }
}
