//! `unroll!(N, i, { ... })` repeats a block with `i` = 0..N as a constant (N = 2, 4, 8, 16), the way
//! `#pragma unroll` does: register arrays indexed by `i` then stay in registers instead of
//! falling to local memory (LLVM does not always fully unroll loops with inline asm bodies).
//! `unroll!(8, i < n, { ... })` runs the block for `i` below `n` of at most 8, a const generic
//! for arrays of `n` slots: the other copies fold away at monomorphisation.

macro_rules! unroll {
    (8, $i:ident < $n:expr, $body:block) => {{
        unroll!(8, $i, {
            if $i < $n $body
        })
    }};
    (2, $i:ident, $body:block) => {{
        {
            let $i: usize = 0;
            $body
        }
        {
            let $i: usize = 1;
            $body
        }
    }};
    (4, $i:ident, $body:block) => {{
        unroll!(2, $i, $body);
        {
            let $i: usize = 2;
            $body
        }
        {
            let $i: usize = 3;
            $body
        }
    }};
    (8, $i:ident, $body:block) => {{
        unroll!(4, $i, $body);
        {
            let $i: usize = 4;
            $body
        }
        {
            let $i: usize = 5;
            $body
        }
        {
            let $i: usize = 6;
            $body
        }
        {
            let $i: usize = 7;
            $body
        }
    }};
    (16, $i:ident, $body:block) => {{
        unroll!(8, $i, $body);
        {
            let $i: usize = 8;
            $body
        }
        {
            let $i: usize = 9;
            $body
        }
        {
            let $i: usize = 10;
            $body
        }
        {
            let $i: usize = 11;
            $body
        }
        {
            let $i: usize = 12;
            $body
        }
        {
            let $i: usize = 13;
            $body
        }
        {
            let $i: usize = 14;
            $body
        }
        {
            let $i: usize = 15;
            $body
        }
    }};
}
