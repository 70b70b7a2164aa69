//! Loops written to compile to vector instructions, compiled a second time for AVX2 and
//! chosen at run time: the agent is built for the x86-64 baseline, whose vectors (SSE2) are
//! half as wide, so that it runs on every machine of the fleet.

/// Defines `$name` as `$portable`, run as compiled with AVX2 where the CPU has it. The
/// portable function is `#[inline(always)]`, so that its body is compiled anew for AVX2.
macro_rules! with_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $portable:ident;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, the one feature `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

pub(crate) use with_avx2;
