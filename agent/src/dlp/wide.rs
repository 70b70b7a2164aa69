//! Loops written to compile to vector instructions, compiled a second time for AVX2 and
//! chosen at run time: the agent is built for the x86-64 baseline, whose vectors (SSE2) are
//! half as wide and which has no instruction to count or find set bits, so that it runs on
//! every machine of the fleet.

/// Defines `$name` as `$portable`, run as compiled with AVX2 (and the bit instructions every
/// CPU with it has: POPCNT, and BMI1's TZCNT) where the CPU has them. The portable function
/// is `#[inline(always)]`, so that its body is compiled anew for them.
macro_rules! with_avx2 {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $portable:ident;) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,bmi1,popcnt")]
                fn wide($($arg: $ty),*) $(-> $ret)? {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("bmi1")
                    && std::arch::is_x86_feature_detected!("popcnt")
                {
                    // SAFETY: the CPU has the features `wide` is compiled for.
                    return unsafe { wide($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

pub(crate) use with_avx2;
