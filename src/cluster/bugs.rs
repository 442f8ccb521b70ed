//! Planted protocol bugs. Each switch breaks one rule Flink relies on for exactly-once; the test
//! suite turns each on and shows the oracle catching it. All off by default.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// The 2PC sink commits its transaction when it pre-commits (at the snapshot), not on
    /// notifyCheckpointComplete: output after the last completed checkpoint is committed and
    /// then produced again after a failover (duplicates).
    pub commit_on_snapshot: bool,
    /// Restarted sources resume where the failed attempt stopped reading instead of at the
    /// checkpoint's offsets: records in the aborted transaction are never produced again (loss).
    pub no_source_rewind: bool,
    /// Restarted tasks start with empty keyed state instead of the checkpoint's: per-key results
    /// lose everything counted before the checkpoint.
    pub restore_empty_state: bool,
    /// Exactly-once mode without barrier alignment: records behind an early barrier are counted
    /// in the snapshot and again after a restore.
    pub skip_alignment: bool,
    /// The sink's store does not fence older producers: a zombie's writes land in the same
    /// transactions as its replacement's and are committed with them (duplicates).
    pub no_fencing: bool,
    /// The 2PC sink prepares its transaction without flushing the records it still buffers:
    /// they are lost in every run, faults or not (a bug the reference run shares).
    pub no_flush_on_pre_commit: bool,
    /// On restore the sink does not commit the restored checkpoint's committables again; they
    /// are aborted with the lingering transactions. Harmless while every notifyCheckpointComplete
    /// arrives; loses a checkpoint's output when the notification was lost or late before a
    /// failure.
    pub no_recommit: bool,
    /// On restore the sink does not abort the transactions opened after the restored
    /// checkpoint: the failed attempt's post-checkpoint writes stay in the open transaction the
    /// new attempt writes to again, and are committed with the replayed records (duplicates).
    pub no_abort_lingering: bool,
    /// A TaskManager the JobManager gives up on by heartbeat *timeout* has its slots released
    /// but its attempts are not failed: nothing restarts them. Invisible while refused heartbeat
    /// RPCs detect dead TaskManagers; shows when `heartbeat.rpc-failure-threshold` is -1 or the
    /// host is gone (the job never finishes).
    pub timeout_keeps_attempts: bool,
    /// A restart restores the oldest retained checkpoint instead of the latest: harmless with
    /// `execution.checkpointing.num-retained` 1 (the default); with more, output of the newer,
    /// already committed checkpoints is produced and committed again.
    pub restore_oldest_checkpoint: bool,
    /// When a checkpoint completes, older checkpoints still in flight are not dropped
    /// (`dropSubsumedCheckpoints` missing): a late one can still complete, and the completed
    /// store, ordered by completion, then calls it the latest. A restart restores it although
    /// the newer checkpoint's output is already committed (duplicates). Needs
    /// `execution.checkpointing.max-concurrent-checkpoints` > 1 and acknowledgements arriving
    /// out of order (a late RPC).
    pub no_subsume_pending: bool,
    /// A restore from an unaligned checkpoint ignores its channel state: the records that were
    /// in flight before the barriers (read by the sources before the checkpoint's offsets) are
    /// never processed (loss). Needs `execution.checkpointing.unaligned.enabled`.
    pub drop_channel_state: bool,
}

impl PlantedBugs {
    pub const NAMES: [&'static str; 12] = [
        "commit-on-snapshot",
        "no-source-rewind",
        "restore-empty-state",
        "skip-alignment",
        "no-fencing",
        "no-flush-on-pre-commit",
        "no-recommit",
        "no-abort-lingering",
        "timeout-keeps-attempts",
        "restore-oldest-checkpoint",
        "no-subsume-pending",
        "drop-channel-state",
    ];

    /// Turns on the bug with this name; false if there is no such bug.
    pub fn set(&mut self, name: &str) -> bool {
        let slot = match name {
            "commit-on-snapshot" => &mut self.commit_on_snapshot,
            "no-source-rewind" => &mut self.no_source_rewind,
            "restore-empty-state" => &mut self.restore_empty_state,
            "skip-alignment" => &mut self.skip_alignment,
            "no-fencing" => &mut self.no_fencing,
            "no-flush-on-pre-commit" => &mut self.no_flush_on_pre_commit,
            "no-recommit" => &mut self.no_recommit,
            "no-abort-lingering" => &mut self.no_abort_lingering,
            "timeout-keeps-attempts" => &mut self.timeout_keeps_attempts,
            "restore-oldest-checkpoint" => &mut self.restore_oldest_checkpoint,
            "no-subsume-pending" => &mut self.no_subsume_pending,
            "drop-channel-state" => &mut self.drop_channel_state,
            _ => return false,
        };
        *slot = true;
        true
    }

    pub fn enabled(&self) -> Vec<&'static str> {
        let flags = [
            self.commit_on_snapshot,
            self.no_source_rewind,
            self.restore_empty_state,
            self.skip_alignment,
            self.no_fencing,
            self.no_flush_on_pre_commit,
            self.no_recommit,
            self.no_abort_lingering,
            self.timeout_keeps_attempts,
            self.restore_oldest_checkpoint,
            self.no_subsume_pending,
            self.drop_channel_state,
        ];
        Self::NAMES.iter().zip(flags).filter(|(_, on)| *on).map(|(n, _)| *n).collect()
    }
}
