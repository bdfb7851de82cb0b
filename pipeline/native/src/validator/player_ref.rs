//! The fast path of `pipeline/core/personal_data.py`: whether a `player_ref` certainly passes.
//!
//! `plain` must never say yes to a ref the Python rules reject (or that is not 8-64 characters of
//! `[A-Za-z0-9_-]`): then the event is accepted without Python. Anything doubtful says no, and
//! Python decides. It reads the ref as the Python module does (pieces, opaque hex pieces and
//! UUIDs, digit runs read together, words split where a lowercase letter meets a capital) and
//! mirrors the word rules exactly (mail domains, first name + surname), but stops short on
//! digits: any number of 9 digits or more, and any year or date of birth, go to Python whatever
//! their neighbours, since checking Luhn, RNOKPP and phone plans twice would buy little
//! (ordinary pseudonyms have neither outside hex). The word lists come from Python
//! (`pipeline/core/personal_data_words.py`), so there is one copy of them.
//!
//! Most refs are decided in one pass over the bytes: the atoms (words, digit runs, separators)
//! are built only when digits could make a number or a year, or a word is a first name.

use std::sync::Arc;

use hashbrown::HashSet;
use pyo3::prelude::*;

const MIN_LEN: usize = 8;
const MAX_LEN: usize = 64;
const MAX_PIECES: usize = MAX_LEN / 2; // a piece and a separator take a byte each at least
const STEM: usize = 3; // letters a surname has before its ending
const MIN_NUMBER: usize = 9; // digits of the shortest number the Python rules read

/// The lists the rules read, lowercase.
pub struct Words {
    first_names: HashSet<Vec<u8>>,
    name_prefixes: Vec<u32>, // the names' first three letters, 26 x 26 x 26 bits: a cheap no
    shortest_name: usize,
    longest_name: usize,
    surname_endings: Vec<Vec<u8>>,
    shortest_surname: usize,
    glued_domains: Vec<Vec<u8>>,
    domain_labels: HashSet<Vec<u8>>, // "ukr.net": the last two words of a ref, joined by a dot
    domain_ends: [u32; 26],          // the domains' last two letters, a bit per last letter: a cheap no
    top_level_domains: HashSet<Vec<u8>>,
    years: (u32, u32),
    hex_spells_nothing: bool, // every name and domain has a letter outside a-f (so does "at")
}

fn lower(items: Vec<String>) -> Vec<Vec<u8>> {
    items.into_iter().map(|s| s.to_ascii_lowercase().into_bytes()).collect()
}

impl Words {
    /// `years`: the first and last year of birth the rules read (YEAR_MIN, YEAR_MAX).
    pub fn new(first_names: Vec<String>, surname_endings: Vec<String>, glued_domains: Vec<String>,
               domain_labels: Vec<(String, String)>, top_level_domains: Vec<String>, years: (u32, u32))
               -> Result<Words, String> {
        let first_names: HashSet<Vec<u8>> = lower(first_names).into_iter().collect();
        let mut name_prefixes = vec![0u32; 26 * 26 * 26 / 32 + 1];
        for name in &first_names {
            if name.len() < 3 || !name.iter().all(u8::is_ascii_lowercase) {
                return Err(format!("first name {:?}: three letters or more", String::from_utf8_lossy(name)));
            }
            let k = prefix_index(name[0], name[1], name[2]);
            name_prefixes[k / 32] |= 1 << (k % 32);
        }
        let surname_endings = lower(surname_endings);
        let (Some(shortest_name), Some(longest_name), Some(shortest_ending)) = (
            first_names.iter().map(Vec::len).min(), first_names.iter().map(Vec::len).max(),
            surname_endings.iter().map(Vec::len).min())
        else {
            return Err("no first names or no surname endings".into());
        };
        let glued_domains = lower(glued_domains);
        let domain_labels: HashSet<Vec<u8>> = domain_labels.into_iter()
            .map(|(a, b)| format!("{a}.{b}").to_ascii_lowercase().into_bytes())
            .collect();
        let mut domain_ends = [0u32; 26];
        for d in glued_domains.iter().chain(&domain_labels) {
            let [.., a @ b'a'..=b'z', z @ b'a'..=b'z'] = d[..] else {
                return Err(format!("mail domain {:?}: it ends with two letters", String::from_utf8_lossy(d)));
            };
            domain_ends[usize::from(a - b'a')] |= 1 << (z - b'a');
        }
        let non_hex = |word: &[u8]| word.iter().any(|c| c.is_ascii_alphabetic() && !c.is_ascii_hexdigit());
        let hex_spells_nothing = first_names.iter().chain(&glued_domains).all(|word| non_hex(word))
            && domain_labels.iter().all(|d| non_hex(d));
        Ok(Words {
            first_names, name_prefixes, shortest_name, longest_name, surname_endings,
            shortest_surname: STEM + shortest_ending, glued_domains, domain_labels, domain_ends,
            top_level_domains: lower(top_level_domains).into_iter().collect(), years, hex_spells_nothing,
        })
    }
}

fn prefix_index(a: u8, b: u8, c: u8) -> usize {
    let letter = |x: u8| usize::from(x.to_ascii_lowercase() - b'a');
    (letter(a) * 26 + letter(b)) * 26 + letter(c)
}

impl Words {
    /// Some first name starts with these three bytes, in any case.
    fn name_prefix(&self, a: u8, b: u8, c: u8) -> bool {
        [a, b, c].iter().all(u8::is_ascii_alphabetic) && {
            let k = prefix_index(a, b, c);
            self.name_prefixes[k / 32] & (1 << (k % 32)) != 0
        }
    }
}

/// `word` (letters) is a first name, in any case.
fn first_name(w: &Words, word: &[u8]) -> bool {
    if !(w.shortest_name..=w.longest_name).contains(&word.len()) {
        return false;
    }
    if !w.name_prefix(word[0], word[1], word[2]) {
        return false;
    }
    let mut low = [0u8; MAX_LEN];
    let low = &mut low[..word.len()];
    low.copy_from_slice(word);
    low.make_ascii_lowercase();
    w.first_names.contains(&low[..])
}

/// Ends with a surname ending, after at least three letters (any case).
fn surname_shaped(w: &Words, word: &[u8]) -> bool {
    w.surname_endings.iter()
        .any(|e| word.len() >= e.len() + STEM && word[word.len() - e.len()..].eq_ignore_ascii_case(e))
}

/// A first name and a surname-shaped word written as one ("ivanpetrenko", "petrenkoivan").
fn glued_name(w: &Words, word: &[u8]) -> bool {
    let longest = w.longest_name.min(word.len().saturating_sub(w.shortest_surname));
    (w.shortest_name..=longest).any(|n| {
        (first_name(w, &word[..n]) && surname_shaped(w, &word[n..]))
            || (first_name(w, &word[word.len() - n..]) && surname_shaped(w, &word[..word.len() - n]))
    })
}

/// The words of a run of letters, as ranges in it: split where a lowercase letter meets a capital.
fn words_of(run: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    (1..=run.len()).filter_map(move |i| {
        let end = i == run.len() || (run[i - 1].is_ascii_lowercase() && run[i].is_ascii_uppercase());
        end.then(|| (std::mem::replace(&mut start, i), i))
    })
}

fn number(d: &[u8]) -> u32 {
    d.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0'))
}

/// A year of birth, alone (1985) or in a date (19850512 or 12051985): Python's `birth_year`.
fn birth_year(w: &Words, d: &[u8]) -> bool {
    let year = |y: &[u8]| (w.years.0..=w.years.1).contains(&number(y));
    let date = |y: &[u8], m: &[u8], day: &[u8]| {
        year(y) && (1..=12).contains(&number(m)) && (1..=31).contains(&number(day))
    };
    match d.len() {
        4 => year(d),
        8 => date(&d[..4], &d[4..6], &d[6..]) || date(&d[4..], &d[2..4], &d[..2]),
        _ => false,
    }
}

/// A run of letters and digits: its byte range (a ref here has 64 bytes at most) and the `FLAGS`
/// of its bytes, or-ed.
type Piece = (u8, u8, u8);

fn range(p: Piece) -> std::ops::Range<usize> {
    usize::from(p.0)..usize::from(p.1)
}

/// An e-mail address without '@' and '.': Python's `mail_hint`, from the ref's pieces.
fn mail(w: &Words, b: &[u8], pieces: &[Piece]) -> bool {
    let Some(&last) = pieces.last() else { return false };
    let end = usize::from(last.1);
    // The last two letters or digits (separators left out): no domain ends so, no domain
    let z = b[end - 1];
    let y = if last.1 - last.0 >= 2 {
        Some(b[end - 2])
    } else {
        pieces.len().checked_sub(2).map(|k| b[usize::from(pieces[k].1) - 1])
    };
    let ends = |y: u8| {
        let letter = |c: u8| c.to_ascii_lowercase() - b'a';
        y.is_ascii_alphabetic() && z.is_ascii_alphabetic()
            && w.domain_ends[usize::from(letter(y))] & (1 << letter(z)) != 0
    };
    if y.is_some_and(ends) {
        // The letters and digits, lowercase
        let mut squeezed = [0u8; MAX_LEN];
        let mut n = squeezed.len();
        for &c in b.iter().rev().filter(|c| c.is_ascii_alphanumeric()) {
            n -= 1;
            squeezed[n] = c.to_ascii_lowercase();
        }
        if w.glued_domains.iter().any(|d| squeezed[n..].ends_with(d)) {
            return true;
        }
        if let [.., before, last] = pieces[..] { // the last two words are a domain's, with one before
            let (a, z) = (&b[range(before)], &b[range(last)]);
            let mut key = [0u8; MAX_LEN + 1];
            if pieces.len() > 2 {
                key[..a.len()].copy_from_slice(a);
                key[a.len()] = b'.';
                key[a.len() + 1..a.len() + 1 + z.len()].copy_from_slice(z);
                let key = &mut key[..a.len() + 1 + z.len()];
                key.make_ascii_lowercase();
                if w.domain_labels.contains(&key[..]) {
                    return true;
                }
            }
        }
    }
    // "at" as a word, two words or more after it, the last a top-level domain
    pieces.len() >= 4
        && pieces[1..pieces.len() - 2].iter().any(|&p| b[range(p)].eq_ignore_ascii_case(b"at"))
        && {
            let z = &b[range(last)];
            let mut tld = [0u8; MAX_LEN];
            tld[..z.len()].copy_from_slice(z);
            tld[..z.len()].make_ascii_lowercase();
            w.top_level_domains.contains(&tld[..z.len()])
        }
}

/// A piece of hex digits with a decimal digit and a letter, its letters all a-f or all A-F.
fn hex_piece(p: Piece) -> bool {
    let f = p.2;
    f & DIGIT != 0 && f & NOT_HEX == 0 && (f & LOWER != 0) != (f & UPPER != 0)
}

/// Pieces `k..k + 5` are a UUID: 8-4-4-4-12 hex digits joined by single dashes.
fn uuid_at(b: &[u8], pieces: &[Piece], k: usize) -> bool {
    const LENGTHS: [usize; 5] = [8, 4, 4, 4, 12];
    k + 5 <= pieces.len()
        && (0..5).all(|i| {
            let p = pieces[k + i];
            range(p).len() == LENGTHS[i] && p.2 & NOT_HEX == 0
                && (i == 0 || (p.0 == pieces[k + i - 1].1 + 1 && b[usize::from(p.0) - 1] == b'-'))
        })
}

/// Which pieces are opaque, a bit each: Python's `_OPAQUE`, left to right, a UUID before a hex
/// piece.
fn opaque_pieces(b: &[u8], pieces: &[Piece]) -> u32 {
    let mut opaque = 0;
    let mut k = 0;
    while k < pieces.len() {
        if uuid_at(b, pieces, k) {
            opaque |= 0b11111 << k;
            k += 5;
        } else {
            opaque |= u32::from(hex_piece(pieces[k])) << k;
            k += 1;
        }
    }
    opaque
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Word,
    Digits,
    Separator,
    Opaque, // a hex piece or a UUID's piece: Python's placeholder word "x"
}

#[derive(Clone, Copy)]
struct Atom {
    kind: Kind,
    start: u8, // byte offsets: a ref here has 64 bytes at most
    end: u8,
}

impl Atom {
    fn of<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        &b[usize::from(self.start)..usize::from(self.end)]
    }
}

/// Python's atoms of the ref with its opaque pieces replaced: (atoms, how many).
fn atoms(b: &[u8], pieces: &[Piece], opaque: u32) -> ([Atom; MAX_LEN], usize) {
    let mut atoms = [Atom { kind: Kind::Separator, start: 0, end: 0 }; MAX_LEN];
    let mut n = 0;
    let mut push = |kind, start: usize, end: usize| {
        atoms[n] = Atom { kind, start: start as u8, end: end as u8 };
        n += 1;
    };
    let mut end = 0;
    for (k, &p) in pieces.iter().enumerate() {
        let (a, z) = (usize::from(p.0), usize::from(p.1));
        if a > end {
            push(Kind::Separator, end, a);
        }
        end = z;
        if opaque & (1 << k) != 0 {
            push(Kind::Opaque, a, z);
            continue;
        }
        let mut i = a;
        while i < z {
            let start = i;
            let digits = b[i].is_ascii_digit();
            while i < z && b[i].is_ascii_digit() == digits {
                i += 1;
            }
            if digits {
                push(Kind::Digits, start, i);
            } else {
                for (a, z) in words_of(&b[start..i]) {
                    push(Kind::Word, start + a, start + z);
                }
            }
        }
    }
    if end < b.len() {
        push(Kind::Separator, end, b.len());
    }
    (atoms, n)
}

/// No number of 9 digits or more (Python's `chains`, digits enclosed in letters left out) and no
/// year or date of birth, wherever they stand.
fn no_numbers_or_years(w: &Words, b: &[u8], atoms: &[Atom]) -> bool {
    let letter_at = |i: usize| i < atoms.len() && matches!(atoms[i].kind, Kind::Word | Kind::Opaque);
    let mut i = 0;
    while i < atoms.len() {
        if atoms[i].kind != Kind::Digits {
            i += 1;
            continue;
        }
        let first = i;
        let (mut runs, mut digits) = (0, 0);
        while i < atoms.len() && matches!(atoms[i].kind, Kind::Digits | Kind::Separator) {
            if atoms[i].kind == Kind::Digits {
                runs += 1;
                digits += atoms[i].of(b).len();
                if birth_year(w, atoms[i].of(b)) {
                    return false;
                }
            }
            i += 1;
        }
        let enclosed = first > 0 && letter_at(first - 1) && letter_at(first + 2 * runs - 1);
        if digits >= MIN_NUMBER && !enclosed {
            return false;
        }
    }
    true
}

/// No first name next to a surname-shaped word: Python's `first_and_surname`.
fn no_first_and_surname(w: &Words, b: &[u8], atoms: &[Atom]) -> bool {
    let word_at = |j: isize| {
        (0..atoms.len() as isize).contains(&j) && atoms[j as usize].kind == Kind::Word
    };
    !atoms.iter().enumerate().any(|(i, a)| {
        a.kind == Kind::Word && first_name(w, a.of(b)) && [-1isize, 1].into_iter().any(|step| {
            let mut j = i as isize + step;
            if (0..atoms.len() as isize).contains(&j) && atoms[j as usize].kind == Kind::Separator {
                j += step;
            }
            word_at(j) && surname_shaped(w, atoms[j as usize].of(b))
        })
    })
}

// What a byte is to the rules: bit flags, 0 for a byte outside [A-Za-z0-9_-].
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const SEPARATOR: u8 = 4;
const LOWER: u8 = 8;
const UPPER: u8 = 16;
const NOT_HEX: u8 = 32; // a letter outside a-f

const FLAGS: [u8; 256] = {
    let mut t = [0; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = match b {
            b'-' | b'_' => SEPARATOR,
            b'0'..=b'9' => DIGIT,
            b'a'..=b'f' => LETTER | LOWER,
            b'g'..=b'z' => LETTER | LOWER | NOT_HEX,
            b'A'..=b'F' => LETTER | UPPER,
            b'G'..=b'Z' => LETTER | UPPER | NOT_HEX,
            _ => 0,
        };
        c += 1;
    }
    t
};

/// What one pass over a ref tells.
#[derive(Default)]
struct Scan {
    digits_to_read: bool, // Python's `_DIGITS_TO_READ`: 4 digits in a row, or digits, separators, a digit
    not_hex: bool,        // a letter outside a-f: no name, domain or "at" is written without one
    maybe_name: bool,     // a word starts with a first name's first three letters
    letters_only: bool,   // a piece of letters only, long enough for a first name and a surname glued
}

/// One pass over `b`: its pieces into `pieces` (how many), or None if a byte is outside
/// [A-Za-z0-9_-].
fn scan(w: &Words, b: &[u8], pieces: &mut [Piece; MAX_PIECES]) -> Option<(Scan, usize)> {
    let mut out = Scan::default();
    let min_glued = w.shortest_name + w.shortest_surname;
    let (mut n, mut start, mut flags, mut all) = (0, 0, 0, 0); // the piece's start and flags; all flags
    let (mut prev, mut in_a_row, mut after_digit_sep) = (SEPARATOR, 0, false);
    let mut end_piece = |n: &mut usize, start: usize, end: usize, flags: u8| {
        pieces[*n] = (start as u8, end as u8, flags);
        *n += 1;
        flags & DIGIT == 0 && end - start >= min_glued
    };
    for (i, &c) in b.iter().enumerate() {
        let f = FLAGS[usize::from(c)];
        if f == 0 {
            return None;
        }
        if f & SEPARATOR != 0 {
            if prev & SEPARATOR == 0 {
                out.letters_only |= end_piece(&mut n, start, i, flags);
                all |= flags;
            }
            after_digit_sep |= prev & DIGIT != 0;
            in_a_row = 0;
        } else {
            if prev & SEPARATOR != 0 {
                (start, flags) = (i, 0);
            }
            flags |= f;
            if f & DIGIT != 0 {
                in_a_row += 1;
                out.digits_to_read |= in_a_row >= 4 || after_digit_sep;
            } else {
                in_a_row = 0;
                // A word starts here (after a non-letter, or a capital after a lowercase letter)
                if (prev & LETTER == 0 || (prev & LOWER != 0 && f & UPPER != 0)) && i + 2 < b.len() {
                    out.maybe_name |= w.name_prefix(b[i], b[i + 1], b[i + 2]);
                }
            }
            after_digit_sep = false;
        }
        prev = f;
    }
    if prev & SEPARATOR == 0 {
        out.letters_only |= end_piece(&mut n, start, b.len(), flags);
        all |= flags;
    }
    out.not_hex = all & NOT_HEX != 0;
    Some((out, n))
}

/// No first name next to a surname-shaped word (Python's `first_and_surname`), and no piece of
/// letters only that is the two glued (its `glued_name`). Rare: most refs have no word starting
/// like a first name.
fn no_names(w: &Words, b: &[u8], pieces: &[Piece], atoms: &[Atom]) -> bool {
    let min_glued = w.shortest_name + w.shortest_surname;
    !pieces.iter().any(|&p| {
        let p = &b[range(p)];
        p.len() >= min_glued && p.iter().all(u8::is_ascii_alphabetic) && glued_name(w, p)
    }) && no_first_and_surname(w, b, atoms)
}

/// Whether `s` certainly passes the Python rules (see the module docs).
pub fn plain(s: &str, w: &Words) -> bool {
    let b = s.as_bytes();
    if !(MIN_LEN..=MAX_LEN).contains(&b.len()) {
        return false;
    }
    let mut pieces = [(0, 0, 0); MAX_PIECES];
    let Some((scan, n)) = scan(w, b, &mut pieces) else { return false };
    let pieces = &pieces[..n];
    let words = scan.not_hex || !w.hex_spells_nothing;
    if words && mail(w, b, pieces) {
        return false;
    }
    let names = words && (scan.maybe_name || scan.letters_only);
    if !scan.digits_to_read && !names {
        return true;
    }
    let opaque = opaque_pieces(b, pieces);
    let read = |k: usize| opaque & (1 << k) == 0 && pieces[k].2 & DIGIT != 0;
    let digits = scan.digits_to_read && (0..pieces.len()).any(read); // else every digit is a hex digit
    if !digits && !names {
        return true;
    }
    let (atoms, n) = atoms(b, pieces, opaque);
    let atoms = &atoms[..n];
    (!digits || no_numbers_or_years(w, b, atoms)) && (!names || no_names(w, b, pieces, atoms))
}

// -- Python --

/// The Python rules' word lists, handed to the compiled validator (`pipeline/core/native.py`).
#[pyclass(module = "dsom_native", frozen)]
pub struct PlayerRefRules {
    pub words: Arc<Words>,
}

#[pymethods]
impl PlayerRefRules {
    #[new]
    fn new(first_names: Vec<String>, surname_endings: Vec<String>, glued_domains: Vec<String>,
           domain_labels: Vec<(String, String)>, top_level_domains: Vec<String>, years: (u32, u32))
           -> PyResult<Self> {
        Words::new(first_names, surname_endings, glued_domains, domain_labels, top_level_domains, years)
            .map(|words| PlayerRefRules { words: Arc::new(words) })
            .map_err(pyo3::exceptions::PyValueError::new_err)
    }

    /// Whether `player_ref` certainly passes (see the module docs).
    fn plain(&self, player_ref: &str) -> bool {
        plain(player_ref, &self.words)
    }
}
