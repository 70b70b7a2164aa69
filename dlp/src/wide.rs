//! Loops over bytes written to compile to vector instructions: the search for the next byte
//! of a kind, and a second build for AVX2 chosen at run time. The agent is built for the
//! x86-64 baseline, whose vectors (SSE2) are half as wide and which has no instruction to
//! count or find set bits, so that it runs on every machine of the fleet.

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

/// The index of the first byte of `bytes` at or after `from` that `is` accepts. Past the
/// first byte it is looked for a block at a time (a test that compiles to vector
/// instructions) through the stretches that hold none: prose between digits, digits between
/// letters, ASCII lines between Vietnamese ones.
#[inline(always)]
pub(crate) fn position_from(bytes: &[u8], from: usize, is: impl Fn(u8) -> bool) -> Option<usize> {
    const BLOCK: usize = 32;
    if is(*bytes.get(from)?) {
        return Some(from);
    }
    let mut at = from + 1;
    while let Some(block) = bytes.get(at..at + BLOCK) {
        if block.iter().fold(false, |any, &b| any | is(b)) {
            break;
        }
        at += BLOCK;
    }
    bytes.get(at..)?.iter().position(|&b| is(b)).map(|p| at + p)
}

with_avx2! {
    /// How many of the bytes of `bytes` are `byte`.
    pub(crate) fn count(bytes: &[u8], byte: u8) -> usize = count_in_lanes;
}

/// [`count`]: a byte-wide counter for each byte of a block, which compiles to vector compares
/// and adds; the counters are summed before they can overflow.
#[inline(always)]
fn count_in_lanes(bytes: &[u8], byte: u8) -> usize {
    const BLOCK: usize = 32;
    let mut total = 0;
    let mut chunks = bytes.chunks_exact(BLOCK * usize::from(u8::MAX));
    for chunk in &mut chunks {
        let mut lanes = [0u8; BLOCK];
        for block in chunk.chunks_exact(BLOCK) {
            for (lane, &b) in lanes.iter_mut().zip(block) {
                *lane += u8::from(b == byte);
            }
        }
        total += lanes.iter().map(|&lane| usize::from(lane)).sum::<usize>();
    }
    total + chunks.remainder().iter().filter(|&&b| b == byte).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_is_counted_in_chunks_blocks_and_the_rest() {
        for len in [0, 1, 31, 32, 33, 8159, 8160, 8161, 20000] {
            let bytes: Vec<u8> = (0..len).map(|i| if i % 7 == 3 || i % 13 == 0 { b'\n' } else { b'x' }).collect();
            let expected = bytes.iter().filter(|&&b| b == b'\n').count();
            assert_eq!(count(&bytes, b'\n'), expected, "{len}");
            assert_eq!(count(&vec![b'\n'; len], b'\n'), len, "{len}");
        }
    }

    #[test]
    fn the_first_byte_of_a_kind_is_found_in_any_block() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            for at in 0..len {
                for from in [0, at, at + 1, len] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b'7';
                    let expected = (from <= at).then_some(at);
                    assert_eq!(position_from(&bytes, from, |b| b.is_ascii_digit()), expected, "{len} {at} {from}");
                }
            }
            assert_eq!(position_from(&vec![b'a'; len], 0, |b| b.is_ascii_digit()), None);
        }
    }
}
