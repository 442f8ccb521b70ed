//! The job: what the user wrote (`spec`), what runs (`graph`: chains, subtasks, channels,
//! pipelined regions), how keys map to subtasks (`keygroup`), and what each operator does to a
//! record (`record`).

pub mod graph;
pub mod keygroup;
pub mod record;
pub mod spec;
