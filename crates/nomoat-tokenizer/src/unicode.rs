//! Code point classes exactly as llama.cpp's `unicode.cpp` uses them, and GPT-2's byte ↔ char map.
//!
//! llama.cpp gives each code point one general category (letter, number, punctuation, symbol,
//! accent mark, or "other": separators, controls, unassigned) plus a White_Space flag. The table
//! here is built once from regex-syntax's Unicode tables (1.1 M entries, one byte each).

use std::sync::OnceLock;

/// Category bits of one code point (exactly one of the first six is set; `WHITESPACE` may be added).
pub(crate) const NUMBER: u8 = 1;
pub(crate) const LETTER: u8 = 2;
pub(crate) const PUNCT: u8 = 4;
pub(crate) const SYMBOL: u8 = 8;
pub(crate) const MARK: u8 = 16;
pub(crate) const OTHER: u8 = 32;
pub(crate) const WHITESPACE: u8 = 64;

const N_CODEPOINTS: usize = 0x11_0000;

fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

fn class_ranges(expr: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class, HirKind};
    // The expressions are fixed and valid; an empty result would only make every code point OTHER.
    let Ok(hir) = regex_syntax::Parser::new().parse(expr) else {
        return Vec::new();
    };
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        _ => Vec::new(),
    }
}

fn build_table() -> Vec<u8> {
    let mut t = vec![OTHER; N_CODEPOINTS];
    for (expr, bit) in [
        (r"\p{L}", LETTER),
        (r"\p{N}", NUMBER),
        (r"\p{P}", PUNCT),
        (r"\p{S}", SYMBOL),
        (r"\p{M}", MARK),
    ] {
        for (a, b) in class_ranges(expr) {
            for v in &mut t[a as usize..=b as usize] {
                *v = bit;
            }
        }
    }
    // llama.cpp's table is Unicode 15.1: code points assigned later are "undefined" there.
    let assigned = class_ranges(r"\p{Age=15.1}");
    let mut next = 0u32;
    for &(a, b) in &assigned {
        for v in &mut t[next as usize..a as usize] {
            *v = OTHER;
        }
        next = b + 1;
    }
    if !assigned.is_empty() {
        for v in &mut t[next as usize..] {
            *v = OTHER;
        }
    }
    for (a, b) in class_ranges(r"\p{White_Space}") {
        for v in &mut t[a as usize..=b as usize] {
            *v |= WHITESPACE;
        }
    }
    t
}

/// Category bits of `c`.
#[inline]
pub(crate) fn flags(c: char) -> u8 {
    let t = table();
    t.get(c as usize).copied().unwrap_or(OTHER)
}

/// Forces the table to be built (so the first tokenization is not slower than the rest).
pub(crate) fn init() {
    let _ = table();
}

/// GPT-2's printable stand-in for each byte: bytes that are printable Latin-1 map to themselves,
/// the rest to U+0100 + n in byte order.
pub(crate) fn byte_to_char_table() -> &'static [char; 256] {
    static T: OnceLock<[char; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = ['\0'; 256];
        let mut n = 0u32;
        for (b, slot) in t.iter_mut().enumerate() {
            let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
            *slot = if printable {
                char::from_u32(b as u32).unwrap_or('\0')
            } else {
                let c = char::from_u32(256 + n).unwrap_or('\0');
                n += 1;
                c
            };
        }
        t
    })
}

/// Inverse of [`byte_to_char_table`].
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    static T: OnceLock<[i16; 324]> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = [-1i16; 324];
        for (b, &c) in byte_to_char_table().iter().enumerate() {
            if let Some(slot) = t.get_mut(c as usize) {
                *slot = b as i16;
            }
        }
        t
    });
    let v = *t.get(c as usize)?;
    u8::try_from(v).ok()
}

/// llama.cpp's `unicode_tolower` for the ASCII letters the contraction rules look at; other code
/// points only matter when they lower-case to one of `s t m d r v e l`, which only ASCII
/// capitals and a handful of compatibility letters do.
#[inline]
pub(crate) fn lower(c: char) -> char {
    if c.is_ascii_uppercase() {
        c.to_ascii_lowercase()
    } else if c.is_ascii() {
        c
    } else {
        let mut l = c.to_lowercase();
        match (l.next(), l.next()) {
            (Some(x), None) => x,
            _ => c,
        }
    }
}

/// Number of bytes of the UTF-8 sequence whose first byte is `b`, as llama.cpp counts it
/// (continuation and invalid bytes count as 1).
#[inline]
pub(crate) fn utf8_len(b: u8) -> usize {
    const LOOKUP: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(b >> 4) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_match_llama_cpp() {
        assert_eq!(flags('a'), LETTER);
        assert_eq!(flags('é'), LETTER);
        assert_eq!(flags('7'), NUMBER);
        assert_eq!(flags('²'), NUMBER);
        assert_eq!(flags('!'), PUNCT);
        assert_eq!(flags('~'), SYMBOL);
        assert_eq!(flags('\u{301}'), MARK);
        assert_eq!(flags(' '), OTHER | WHITESPACE);
        assert_eq!(flags('\u{a0}'), OTHER | WHITESPACE);
        assert_eq!(flags('\u{3000}'), OTHER | WHITESPACE);
        assert_eq!(flags('\u{200b}'), OTHER);
        assert_eq!(flags('\n'), OTHER | WHITESPACE);
        // Unicode 15.1, as llama.cpp's table: CJK extension I is a letter, 16.0 additions are not.
        assert_eq!(flags('\u{2EBF0}'), LETTER);
        assert_eq!(flags('\u{897}'), OTHER);
        assert_eq!(flags('\u{1C89}'), OTHER);
    }

    #[test]
    fn gpt2_byte_map_round_trips() {
        let t = byte_to_char_table();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(t[b as usize]), Some(b));
        }
        assert_eq!(char_to_byte('€'), None);
    }
}
