pub struct Counter {
    count: u32,
}

pub trait Tick {
    fn tick(&mut self);
}

impl Counter {
    pub fn new() -> Self {
        Counter { count: 0 }
    }
}

impl Tick for Counter {
    fn tick(&mut self) {
        self.count += 1;
    }
}

pub enum Mode {
    Fast,
    Slow,
}

pub fn run_counter(c: &mut Counter) {
    c.tick();
}
