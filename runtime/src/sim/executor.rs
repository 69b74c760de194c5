//! A deterministic single-threaded executor: tasks are polled in spawn
//! order, and a waker only sets its task's flag, so which task runs when
//! depends on nothing but the program and the simulation.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Task {
    node: usize,
    future: Pin<Box<dyn Future<Output = ()>>>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// The task list.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: Vec<Option<Task>>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &self.tasks.len())
            .field("running", &self.running())
            .finish()
    }
}

/// The result of a task spawned on the simulator.
#[derive(Debug)]
pub struct TaskHandle<T> {
    slot: Rc<RefCell<Option<T>>>,
}

impl<T> TaskHandle<T> {
    /// True once the task has completed.
    pub fn is_done(&self) -> bool {
        self.slot.borrow().is_some()
    }

    /// The task's output, once it completed (taken: `None` afterwards).
    pub fn take(&self) -> Option<T> {
        self.slot.borrow_mut().take()
    }
}

impl Executor {
    pub(crate) fn spawn<T: 'static>(
        &mut self,
        node: usize,
        future: impl Future<Output = T> + 'static,
    ) -> TaskHandle<T> {
        let slot = Rc::new(RefCell::new(None));
        let out = Rc::clone(&slot);
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(Arc::clone(&flag));
        self.tasks.push(Some(Task {
            node,
            future: Box::pin(async move {
                let v = future.await;
                *out.borrow_mut() = Some(v);
            }),
            flag,
            waker,
        }));
        TaskHandle { slot }
    }

    /// Poll every woken task, in spawn order, until none is woken.
    /// Returns how many polls ran.
    pub(crate) fn run_ready(&mut self) -> u64 {
        let mut polls = 0;
        loop {
            let mut any = false;
            for slot in &mut self.tasks {
                let Some(task) = slot else { continue };
                if !task.flag.0.swap(false, Ordering::Relaxed) {
                    continue;
                }
                any = true;
                polls += 1;
                let mut cx = Context::from_waker(&task.waker);
                if task.future.as_mut().poll(&mut cx).is_ready() {
                    *slot = None;
                }
            }
            if !any {
                return polls;
            }
        }
    }

    /// Tasks not finished yet.
    pub(crate) fn running(&self) -> usize {
        self.tasks.iter().flatten().count()
    }

    /// Drop every task of `node` (a crash: their endpoints vanish).
    pub(crate) fn kill(&mut self, node: usize) -> usize {
        let mut killed = 0;
        for slot in &mut self.tasks {
            if slot.as_ref().is_some_and(|t| t.node == node) {
                *slot = None;
                killed += 1;
            }
        }
        killed
    }
}
