use recoverysim::fault::*;
use recoverysim::job::graph::SubtaskRef;
use recoverysim::job::spec::OperatorId;
#[test]
fn smoke() {
    let mut sc = recoverysim::scenario::testing::keyed_job(4, 3);
    let run = recoverysim::run::simulate(&sc);
    print!("{}", recoverysim::cli::render::human(&run));
    sc.faults
        .push(FaultSpec { trigger: FaultTrigger::At { at_us: 7_500_000 }, action: FaultAction::KillTaskManager(1) });
    let run = recoverysim::run::simulate(&sc);
    print!("{}", recoverysim::cli::render::human(&run));
    sc.faults.clear();
    sc.faults.push(FaultSpec {
        trigger: FaultTrigger::At { at_us: 7_500_000 },
        action: FaultAction::FailTask(SubtaskRef { operator: OperatorId(1), index: 2 }),
    });
    sc.bugs.commit_on_snapshot = true;
    let run = recoverysim::run::simulate(&sc);
    print!("{}", recoverysim::cli::render::human(&run));
}
