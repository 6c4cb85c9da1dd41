//! The static decode plan (docs/decode-plan.md; `crate::decode`): on one GPU at
//! decode shapes every block derives the same task list from the routing, so task `i` of a
//! launch is a pure function of `i` and nothing is published. Tasks come in dependency order:
//! every GEMM0 task (row tiles in expert order, column tiles ascending, so a tile's first GEMM1
//! K splits become ready first), then every GEMM1 task (tile, then K split, then column tile),
//! then the combine tasks; past them, exits. Blocks claim indices in order, so every task a
//! claimed one waits for was claimed before it by a running block.

/// What task `i` of a [`StaticPlan`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticTask {
    /// GEMM0 column tile `n` of row tile `tile` (the `tile`-th expert with rows).
    Gemm0 {
        tile: u32,
        n: u32,
    },
    /// GEMM1 column tile `col`, K split `split` of row tile `tile`.
    Gemm1 {
        tile: u32,
        split: u32,
        col: u32,
    },
    /// Combine task `i` (tokens `i · COMBINE_TOKENS ..`).
    Combine(u32),
    Exit,
}

/// The counts a static plan is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticPlan {
    /// Row tiles: one per expert with rows (decode shapes fit an expert's rows in one tile).
    pub tiles: u32,
    /// GEMM0 tasks per row tile: column tiles x K splits (`MoeParams::gemm0_tasks`; task column
    /// `n · splits + s`).
    pub gemm0: u32,
    /// GEMM1 K splits (1 without a split).
    pub splits: u32,
    /// GEMM1 column tiles per split (`gemm1_tiles`).
    pub gemm1: u32,
    /// Combine tasks (`combine_tasks`).
    pub combines: u32,
}

impl StaticPlan {
    /// Tasks before the exits.
    #[inline(always)]
    pub const fn tasks(&self) -> u32 {
        self.tiles * (self.gemm0 + self.splits * self.gemm1) + self.combines
    }

    /// Task `i` (an exit from [`Self::tasks`] on).
    #[inline(always)]
    pub const fn task(&self, i: u32) -> StaticTask {
        let gemm0 = self.tiles * self.gemm0;
        let per_tile1 = self.splits * self.gemm1;
        let gemm1 = self.tiles * per_tile1;
        if i < gemm0 {
            StaticTask::Gemm0 { tile: i / self.gemm0, n: i % self.gemm0 }
        } else if i < gemm0 + gemm1 {
            let j = i - gemm0;
            let (tile, rest) = (j / per_tile1, j % per_tile1);
            StaticTask::Gemm1 { tile, split: rest / self.gemm1, col: rest % self.gemm1 }
        } else if i < gemm0 + gemm1 + self.combines {
            StaticTask::Combine(i - gemm0 - gemm1)
        } else {
            StaticTask::Exit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task appears exactly once, in dependency order (all GEMM0 before any GEMM1, all
    /// GEMM1 before any combine), GEMM0 tiles in order with their column tiles ascending, and
    /// each tile's GEMM1 splits in order; then exits. Against the nested loops that define it.
    #[test]
    fn tasks_enumerate_the_nested_loops_in_order() {
        for (tiles, gemm0, splits, gemm1, combines) in
            [(2, 224, 4, 32, 1), (1, 1, 1, 1, 1), (64, 16, 1, 16, 1), (7, 3, 8, 5, 2), (0, 4, 1, 4, 1)]
        {
            let plan = StaticPlan { tiles, gemm0, splits, gemm1, combines };
            let mut i = 0;
            let mut next = |t: StaticTask| {
                assert_eq!(plan.task(i), t, "{plan:?} task {i}");
                i += 1;
            };
            for tile in 0..tiles {
                for n in 0..gemm0 {
                    next(StaticTask::Gemm0 { tile, n });
                }
            }
            for tile in 0..tiles {
                for split in 0..splits {
                    for col in 0..gemm1 {
                        next(StaticTask::Gemm1 { tile, split, col });
                    }
                }
            }
            for c in 0..combines {
                next(StaticTask::Combine(c));
            }
            assert_eq!(plan.tasks(), i, "{plan:?}");
            for i in plan.tasks()..plan.tasks() + 300 {
                assert_eq!(plan.task(i), StaticTask::Exit);
            }
        }
    }
}
