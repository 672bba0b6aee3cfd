/*
 * text.c - the keyword tokeniser (text.h): one pass over the bytes, no allocation, a table for
 * ASCII, range tests and small tables for the rest.  What a search can find depends on these
 * rules alone, so every change to them, however small, bumps BT_STORE__TEXT_VERSION.
 *
 * Rules of version 1:
 *
 * 1. Decoding.  The input is UTF-8, decoded strictly: a byte that does not start a valid
 *    sequence (a lone continuation byte, a sequence cut short, an overlong form, a surrogate,
 *    a code point above U+10FFFF, bytes C0, C1, F5-FF) is a separator, and decoding resumes at
 *    the next byte.
 *
 * 2. Classes.  Each code point is a token character (a letter or digit), a unigram, dropped
 *    (removed without splitting the word around it), or a separator.  A token is a maximal run
 *    of token characters, folded (rule 4); a unigram is a token of its own, also next to
 *    letters.  Letters and digits are not split apart: "x264", "S01E02" -> "s01e02", "1080p".
 *    ASCII: letters and digits are token characters, ' is dropped ("don't" -> "dont"), all
 *    else (NUL, controls, space, punctuation) separates.  From U+00C0 on, every code point is
 *    a letter unless rule 3 lists it, unassigned ones included.  The marks of scripts rule 3
 *    does not list (Devanagari and Thai vowel signs, ...) are letters: they spell the word.
 *
 * 3. Exceptions to "a letter".
 *    Separators: U+0080-U+00BF (C1 controls, Latin-1 punctuation and symbols) but the soft
 *    hyphen; U+00D7 U+00F7 (× ÷); spacing modifiers U+02B0-U+02FF but U+02BB U+02BC; Greek
 *    U+0374 U+0375 U+037A U+037E U+0384 U+0385 U+0387 U+03F6; Cyrillic U+0482; Armenian
 *    U+055D U+0589 U+058A U+058D-U+058F; Hebrew U+05BE U+05C0 U+05C3 U+05C6; Arabic
 *    U+0606-U+060F U+061B U+061D-U+061F U+066A-U+066D U+06D4 U+06DD U+06DE U+06E9; Syriac
 *    U+0700-U+070F; dandas U+0964 U+0965 U+0970; Thai U+0E3F U+0E4F U+0E5A U+0E5B; Georgian
 *    U+10FB; Ethiopic U+1360-U+1368; Ogham U+1680; Khmer U+17D4-U+17DA; Mongolian
 *    U+1800-U+180A; General Punctuation U+2000-U+206F (but the dropped ones); superscripts,
 *    subscripts, currency U+2070-U+20CF; letterlike symbols, number forms, arrows, math
 *    operators, technical, enclosed alphanumerics, box drawing, shapes, misc symbols, dingbats,
 *    braille U+2100-U+2BFF; Supplemental Punctuation, CJK and Kangxi radicals, ideographic
 *    description U+2E00-U+2FFF; CJK Symbols and Punctuation U+3000-U+303F (but the unigrams
 *    U+3005-U+3007 々 〆 〇); U+309B U+309C U+30A0 U+30FB (゛ ゜ ゠ ・); kanbun U+3190-U+319F;
 *    CJK strokes U+31C0-U+31EF; enclosed CJK and CJK compatibility U+3200-U+33FF; Yijing
 *    hexagrams U+4DC0-U+4DFF; private use U+E000-U+F8FF and planes 15-16; U+FB29 U+FD3E U+FD3F
 *    U+FDD0-U+FDEF U+FDFC-U+FDFF; vertical, CJK compatibility and small forms U+FE10-U+FE1F,
 *    U+FE30-U+FE6F; fullwidth punctuation and symbols U+FF00-U+FF65 (but the letters, digits
 *    and U+FF07); halfwidth and fullwidth symbols and specials U+FFDD-U+FFFF (so U+FFFD);
 *    musical and other symbols U+1D000-U+1D3FF; emoji, mahjong, cards, regional indicators
 *    U+1F000-U+1FFFF; the unassigned planes 4-13 and U+E1000-U+EFFFF.
 *    Dropped: combining marks U+0300-U+036F, U+1AB0-U+1AFF, U+1DC0-U+1DFF, U+20D0-U+20FF,
 *    U+FE20-U+FE2F; Cyrillic U+0483-U+0489; Hebrew points U+0591-U+05C7 (but its punctuation)
 *    and U+FB1E, geresh and gershayim U+05F3 U+05F4; Arabic marks U+0610-U+061A, U+064B-U+065F,
 *    U+0670, U+06D6-U+06DC, U+06DF-U+06E4, U+06E7, U+06E8, U+06EA-U+06ED, tatweel U+0640,
 *    U+0600-U+0605, U+061C; Armenian marks written inside words U+0559-U+055F but U+055D;
 *    apostrophes ' U+2019 U+02BB U+02BC U+FF07; the soft hyphen U+00AD; zero-width and
 *    direction controls U+200B-U+200F, U+202A-U+202E, U+2060-U+206F, U+FEFF; Mongolian
 *    U+180B-U+180F; variation selectors U+FE00-U+FE0F and U+E0000-U+E0FFF (with the tags); kana
 *    voicing marks U+3099 U+309A U+FF9E U+FF9F that follow no kana they combine with.
 *    Unigrams: Hangul jamo U+1100-U+11FF, U+3130-U+318F, U+A960-U+A97F, U+D7B0-U+D7FF and
 *    syllables U+AC00-U+D7AF; U+3005-U+3007; Hiragana and Katakana U+3040-U+30FF,
 *    U+31F0-U+31FF; CJK ideographs U+3400-U+4DBF, U+4E00-U+9FFF, U+F900-U+FAFF,
 *    U+20000-U+3FFFF; halfwidth Katakana U+FF66-U+FF9D and Hangul U+FFA0-U+FFDC.
 *
 * 4. Folding.  Case: ASCII, Latin (Latin-1, Extended-A and -B, IPA, Extended Additional),
 *    Greek (ς -> σ), Cyrillic, Armenian, fullwidth ASCII.  Diacritics: in those Latin blocks a
 *    letter with a diacritic, hook, stroke or bar becomes its base letter (é -> e, ñ, ç, å, ő,
 *    ł, đ, ø, ș, ư, ɓ, ...); ß ẞ -> ss, æ ǣ ǽ -> ae, œ -> oe, þ -> th, ð -> d, ĳ -> ij, ı -> i,
 *    ſ -> s, ŉ -> n, the digraphs ǆ ǉ ǌ ǳ -> dz lj nj dz, the ligatures ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ -> ff fi
 *    fl ffi ffl st st; their letters with no base letter are kept, lowercased (ŋ, ə, ɛ, ʒ, and
 *    ǯ -> ʒ).  Greek: tonos, dialytika, the polytonic accents and breathings and the iota
 *    subscript are stripped (ά -> α, ἄ -> α, ᾳ -> α), and the variants ϐ ϑ ϕ ϖ ϰ ϱ ϲ ϴ ϵ ϒ
 *    become β θ φ π κ ρ σ θ ε υ.  Cyrillic: diacritics are stripped (ё ѐ -> е, ѝ -> и, ї -> і,
 *    ў -> у, ѓ -> г, ќ -> к, ӧ -> о, ...) but й stays й.  Arabic: أ إ آ ٱ -> ا, ؤ -> و,
 *    ئ ى ی -> ي, ک -> ك, ۀ ۂ ۓ -> ە ہ ے, Arabic-Indic and Persian digits -> ASCII digits.
 *    Fullwidth ASCII letters and digits, and the Latin letters and digits of U+1D400-U+1D7FF
 *    (math bold, italic, script, ...) -> ASCII; halfwidth Katakana -> Katakana.  Other letters
 *    (Hebrew, Devanagari, Thai, CJK, Latin Extended-C and -D, ...) are kept as they are.
 *
 * 5. Composition, so that decomposed text (macOS file names are NFD) folds like composed text:
 *    и or И followed by U+0306 is й; a kana followed by a voicing mark (U+3099 U+309A U+FF9E
 *    U+FF9F) that combines with it is the voiced kana (か + U+3099 -> が); Hangul jamo L V [T],
 *    and a syllable LV followed by a jamo T, compose to a syllable.  Other combining marks are
 *    dropped (rule 3), which strips them as rule 4 strips the precomposed letters.
 *
 * 6. Length.  Tokens are folded UTF-8; one longer than BT_STORE__TOKEN_MAX bytes is cut at the
 *    last complete code point that fits, and the rest of its run is skipped.
 *
 * So every token is 1..BT_STORE__TOKEN_MAX bytes of valid UTF-8 made of token characters that
 * fold to themselves, and tokenising a token gives back exactly that token.  Known limits:
 * Thai, Lao, Khmer and Myanmar, written without spaces between words, give one token per
 * phrase (cut at 32 bytes); Indic nukta letters, Hebrew presentation forms and CJK
 * compatibility ideographs are not normalised.
 */
#include "text.h"

#include <stdint.h>

/* What a code point is (rule 2). */
enum { K_SEP, K_DROP, K_LETTER, K_EXPAND, K_UNIGRAM };

/* ASCII: 0 a separator, 1 dropped, else the folded letter or digit. */
enum { A_SEP = 0, A_DROP = 1 };
/* clang-format off */
static const unsigned char ascii_fold[128] = {
	['\''] = A_DROP,
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g',
	['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
	['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u',
	['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y', ['Z'] = 'z',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g',
	['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n',
	['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u',
	['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z',
};
/* clang-format on */

/* Letters that fold to more than one: index '0'.. in the Latin tables, 8.. for U+FB00-U+FB06. */
/* clang-format off */
static const char expansions[][4] = {"ae", "oe", "th", "ss", "ij", "dz", "lj", "nj",
                                     "ff", "fi", "fl", "ffi", "ffl", "st", "st"};
/* clang-format on */

/*
 * The Latin blocks, one byte per code point: a-z the ASCII letter it folds to; '=' kept as it is;
 * '+' its lowercase is the next code point; '*' see latin_other(); '-' a separator; '0'-'7' an
 * index in expansions[].  The base letters follow the Unicode canonical decompositions and, for
 * letters with a hook, stroke or bar (which have none), the letter the character's name says.
 */
/* clang-format off */
static const char latin_fold[] = "aaaaaa0ceeeeiiiidnooooo-ouuuuy23" /* U+00C0 */
                                 "aaaaaa0ceeeeiiiidnooooo-ouuuuy2y" /* U+00E0 */
                                 "aaaaaaccccccccddddeeeeeeeeeegggg" /* U+0100 */
                                 "gggghhhhiiiiiiiiii44jjkk=lllllll" /* U+0120 */
                                 "lllnnnnnnn+=oooooo11rrrrrrssssss" /* U+0140 */
                                 "ssttttttuuuuuuuuuuuuwwyyyzzzzzzs" /* U+0160 */
                                 "bbbb+=*ccdddd=***ffg*=*ikkl=*nno" /* U+0180 */
                                 "oo+=pp*+=*=ttttuu*vyyzz*+===+===" /* U+01A0 */
                                 "====555666777aaiioouuuuuuuuuu=aa" /* U+01C0 */
                                 "aa00ggggkkoooo**j555gg**nnaa00oo" /* U+01E0 */
                                 "aaaaeeeeiiiioooorrrruuuusstt+=hh" /* U+0200 */
                                 "nd+=zzaaeeooooooooyylntj==acclts" /* U+0220 */
                                 "z+=bu*eejjqqrryy===b=cdd========" /* U+0240 */
                                 "g=====h=i==lll===mnn========rrr=" /* U+0260 */
                                 "==s=====t==v====zz===========j==" /* U+0280 */
                                 "q===============";               /* U+02A0 */

static const char latin_ext_fold[] = "aabbbbbbccddddddddddeeeeeeeeeeff" /* U+1E00 */
                                     "gghhhhhhhhhhiiiikkkkkkllllllllmm" /* U+1E20 */
                                     "mmmmnnnnnnnnoooooooopppprrrrrrrr" /* U+1E40 */
                                     "ssssssssssttttttttuuuuuuuuuuvvvv" /* U+1E60 */
                                     "wwwwwwwwwwxxxxyyzzzzzzhtwyasss3=" /* U+1E80 */
                                     "aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee" /* U+1EA0 */
                                     "eeeeeeeeiiiioooooooooooooooooooo" /* U+1EC0 */
                                     "oooouuuuuuuuuuuuuuyyyyyyyy+=+=yy"; /* U+1EE0 */
/* clang-format on */

_Static_assert(sizeof(latin_fold) == 0x2B0 - 0xC0 + 1, "latin_fold covers U+00C0-U+02AF");
_Static_assert(sizeof(latin_ext_fold) == 0x100 + 1, "latin_ext_fold covers U+1E00-U+1EFF");

/* Latin capitals whose lowercase is not the next code point, and ǯ. */
static uint32_t latin_other(uint32_t c)
{
	/* clang-format off */
	switch (c) {
	case 0x186: return 0x254; /* Ɔ ɔ */
	case 0x18E: return 0x1DD; /* Ǝ ǝ */
	case 0x18F: return 0x259; /* Ə ə */
	case 0x190: return 0x25B; /* Ɛ ɛ */
	case 0x194: return 0x263; /* Ɣ ɣ */
	case 0x196: return 0x269; /* Ɩ ɩ */
	case 0x19C: return 0x26F; /* Ɯ ɯ */
	case 0x1A6: return 0x280; /* Ʀ ʀ */
	case 0x1A9: return 0x283; /* Ʃ ʃ */
	case 0x1B1: return 0x28A; /* Ʊ ʊ */
	case 0x1B7: /* Ʒ, and Ǯ ǯ without their caron */
	case 0x1EE:
	case 0x1EF: return 0x292;
	case 0x1F6: return 0x195; /* Ƕ ƕ */
	case 0x1F7: return 0x1BF; /* Ƿ ƿ */
	case 0x245: return 0x28C; /* Ʌ ʌ */
	default: return c;
	}
	/* clang-format on */
}

static int fold_latin_code(uint32_t c, char code, uint32_t *out)
{
	if (code >= 'a') {
		*out = (uint32_t)code;
		return K_LETTER;
	}
	/* clang-format off */
	switch (code) {
	case '=': return K_LETTER;
	case '+': *out = c + 1; return K_LETTER;
	case '*': *out = latin_other(c); return K_LETTER;
	case '-': return K_SEP;
	default: *out = (uint32_t)(code - '0'); return K_EXPAND;
	}
	/* clang-format on */
}

/* Greek and Coptic, U+0370-U+03FF. */
static int fold_greek(uint32_t c, uint32_t *out)
{
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
		c += 0x20; /* capitals, Ϊ Ϋ included */
	/* clang-format off */
	switch (c) {
	case 0x374: case 0x375: case 0x37A: case 0x37E: case 0x384: case 0x385: case 0x387:
	case 0x3F6:
		return K_SEP;
	case 0x386: case 0x3AC: c = 0x3B1; break;                         /* ά */
	case 0x388: case 0x3AD: case 0x3F5: c = 0x3B5; break;             /* έ ϵ */
	case 0x389: case 0x3AE: c = 0x3B7; break;                         /* ή */
	case 0x38A: case 0x390: case 0x3AF: case 0x3CA: c = 0x3B9; break; /* ί ΐ ϊ */
	case 0x38C: case 0x3CC: c = 0x3BF; break;                         /* ό */
	case 0x38E: case 0x3B0: case 0x3CB: case 0x3CD: case 0x3D2: case 0x3D3: case 0x3D4:
		c = 0x3C5;                                                /* ύ ΰ ϋ ϒ ϓ ϔ */
		break;
	case 0x38F: case 0x3CE: c = 0x3C9; break;                         /* ώ */
	case 0x3C2: case 0x3F2: case 0x3F9: c = 0x3C3; break;             /* ς ϲ Ϲ */
	case 0x3D0: c = 0x3B2; break;                                     /* ϐ */
	case 0x3D1: case 0x3F4: c = 0x3B8; break;                         /* ϑ ϴ */
	case 0x3D5: c = 0x3C6; break;                                     /* ϕ */
	case 0x3D6: c = 0x3C0; break;                                     /* ϖ */
	case 0x3F0: c = 0x3BA; break;                                     /* ϰ */
	case 0x3F1: c = 0x3C1; break;                                     /* ϱ */
	case 0x37F: c = 0x3F3; break;                                     /* Ϳ ϳ */
	case 0x3CF: c = 0x3D7; break;                                     /* Ϗ ϗ */
	case 0x3FD: case 0x3FE: case 0x3FF: c -= 0x3FD - 0x37B; break;    /* Ͻ Ͼ Ͽ */
	case 0x370: case 0x372: case 0x376: case 0x3F7: case 0x3FA: c++; break;
	default:
		if (c >= 0x3D8 && c <= 0x3EF)
			c |= 1; /* archaic and Coptic pairs, capital first */
	}
	/* clang-format on */
	*out = c;
	return K_LETTER;
}

/*
 * Greek Extended, U+1F00-U+1FFF: the letter each folds to once accents, breathings and iota
 * subscript are stripped, by a Latin stand-in (a α, e ε, h η, i ι, o ο, r ρ, u υ, w ω); '=' kept
 * (unassigned), '-' a separator (the spacing accents).
 */
/* clang-format off */
static const char greek_ext_fold[] = "aaaaaaaaaaaaaaaaeeeeee==eeeeee==" /* U+1F00 */
                                     "hhhhhhhhhhhhhhhhiiiiiiiiiiiiiiii" /* U+1F20 */
                                     "oooooo==oooooo==uuuuuuuu=u=u=u=u" /* U+1F40 */
                                     "wwwwwwwwwwwwwwwwaaeehhiioouuww==" /* U+1F60 */
                                     "aaaaaaaaaaaaaaaahhhhhhhhhhhhhhhh" /* U+1F80 */
                                     "wwwwwwwwwwwwwwwwaaaaa=aaaaaaa-i-" /* U+1FA0 */
                                     "--hhh=hheehhh---iiii==iiiiii=---" /* U+1FC0 */
                                     "uuuurruuuuuur---==www=wwoowww--="; /* U+1FE0 */
/* clang-format on */

_Static_assert(sizeof(greek_ext_fold) == 0x100 + 1, "greek_ext_fold covers U+1F00-U+1FFF");

static int fold_greek_ext(uint32_t c, uint32_t *out)
{
	/* clang-format off */
	switch (greek_ext_fold[c - 0x1F00]) {
	case 'a': *out = 0x3B1; return K_LETTER;
	case 'e': *out = 0x3B5; return K_LETTER;
	case 'h': *out = 0x3B7; return K_LETTER;
	case 'i': *out = 0x3B9; return K_LETTER;
	case 'o': *out = 0x3BF; return K_LETTER;
	case 'r': *out = 0x3C1; return K_LETTER;
	case 'u': *out = 0x3C5; return K_LETTER;
	case 'w': *out = 0x3C9; return K_LETTER;
	case '-': return K_SEP;
	default: *out = c; return K_LETTER;
	}
	/* clang-format on */
}

/* Cyrillic and Cyrillic Supplement, U+0400-U+052F. */
static int fold_cyrillic(uint32_t c, uint32_t *out)
{
	if (c == 0x482)
		return K_SEP; /* ҂ thousands sign */
	if (c >= 0x483 && c <= 0x489)
		return K_DROP; /* titlo and other combining marks */
	if (c < 0x410)
		c += 0x50; /* Ѐ-Џ */
	else if (c < 0x430)
		c += 0x20; /* А-Я */
	else if (c == 0x4C0)
		c = 0x4CF; /* palochka */
	else if (c >= 0x4C1 && c <= 0x4CE)
		c += c & 1; /* pairs, capital at the odd code point */
	else if (c >= 0x460)
		c |= 1; /* pairs, capital at the even code point */

	/* clang-format off */
	switch (c) { /* diacritics stripped, but not й's breve */
	case 0x450: case 0x451: case 0x4D7: *out = 0x435; break;             /* ѐ ё ӗ -> е */
	case 0x45D: case 0x4E3: case 0x4E5: *out = 0x438; break;             /* ѝ ӣ ӥ -> и */
	case 0x453: *out = 0x433; break;                                     /* ѓ -> г */
	case 0x457: *out = 0x456; break;                                     /* ї -> і */
	case 0x45C: *out = 0x43A; break;                                     /* ќ -> к */
	case 0x45E: case 0x4EF: case 0x4F1: case 0x4F3: *out = 0x443; break; /* ў ӯ ӱ ӳ -> у */
	case 0x477: *out = 0x475; break;                                     /* ѷ -> ѵ */
	case 0x4C2: case 0x4DD: *out = 0x436; break;                         /* ӂ ӝ -> ж */
	case 0x4D1: case 0x4D3: *out = 0x430; break;                         /* ӑ ӓ -> а */
	case 0x4DB: *out = 0x4D9; break;                                     /* ӛ -> ә */
	case 0x4DF: *out = 0x437; break;                                     /* ӟ -> з */
	case 0x4E7: *out = 0x43E; break;                                     /* ӧ -> о */
	case 0x4EB: *out = 0x4E9; break;                                     /* ӫ -> ө */
	case 0x4ED: *out = 0x44D; break;                                     /* ӭ -> э */
	case 0x4F5: *out = 0x447; break;                                     /* ӵ -> ч */
	case 0x4F9: *out = 0x44B; break;                                     /* ӹ -> ы */
	default: *out = c;
	}
	/* clang-format on */
	return K_LETTER;
}

/* Arabic, U+0600-U+06FF. */
static int fold_arabic(uint32_t c, uint32_t *out)
{
	if (c <= 0x605)
		return K_DROP; /* number signs, written before a number */
	if (c <= 0x60F)
		return K_SEP;
	if (c <= 0x61A)
		return K_DROP;
	if (c <= 0x61F)
		return c == 0x61C ? K_DROP : K_SEP; /* letter mark; ؛ ؝ ؞ ؟ */
	if ((c >= 0x64B && c <= 0x65F) || c == 0x670 || (c >= 0x6D6 && c <= 0x6DC) ||
	    (c >= 0x6DF && c <= 0x6E4) || c == 0x6E7 || c == 0x6E8 || (c >= 0x6EA && c <= 0x6ED) ||
	    c == 0x640)
		return K_DROP; /* harakat, Quranic marks, tatweel */
	if ((c >= 0x66A && c <= 0x66D) || c == 0x6D4 || c == 0x6DD || c == 0x6DE || c == 0x6E9)
		return K_SEP;
	/* clang-format off */
	switch (c) {
	case 0x622: case 0x623: case 0x625: case 0x671: c = 0x627; break; /* آ أ إ ٱ -> ا */
	case 0x624: c = 0x648; break;                                     /* ؤ -> و */
	case 0x626: case 0x649: case 0x6CC: c = 0x64A; break;             /* ئ ى ی -> ي */
	case 0x6A9: c = 0x643; break;                                     /* ک -> ك */
	case 0x6C0: c = 0x6D5; break;                                     /* ۀ -> ە */
	case 0x6C2: c = 0x6C1; break;                                     /* ۂ -> ہ */
	case 0x6D3: c = 0x6D2; break;                                     /* ۓ -> ے */
	default:
		if (c >= 0x660 && c <= 0x669)
			c = '0' + (c - 0x660);
		else if (c >= 0x6F0 && c <= 0x6F9)
			c = '0' + (c - 0x6F0);
	}
	/* clang-format on */
	*out = c;
	return K_LETTER;
}

/* U+0530-U+07FF: Armenian, Hebrew, Arabic, Syriac, Thaana, NKo. */
static int fold_middle_east(uint32_t c, uint32_t *out)
{
	*out = c;
	if (c < 0x590) {
		if (c >= 0x531 && c <= 0x556) {
			*out = c + 0x30;
			return K_LETTER;
		}
		if (c >= 0x559 && c <= 0x55F)
			return c == 0x55D ? K_SEP : K_DROP; /* marks inside words; ՝ comma */
		if (c == 0x589 || c == 0x58A || c >= 0x58D)
			return K_SEP;
		return K_LETTER;
	}
	if (c < 0x600) {
		if (c == 0x5BE || c == 0x5C0 || c == 0x5C3 || c == 0x5C6)
			return K_SEP;
		if ((c >= 0x591 && c <= 0x5C7) || c == 0x5F3 || c == 0x5F4)
			return K_DROP;
		return K_LETTER;
	}
	if (c < 0x700)
		return fold_arabic(c, out);
	return c <= 0x70F ? K_SEP : K_LETTER;
}

/* U+0800-U+2FFF. */
static int fold_bmp_low(uint32_t c, uint32_t *out)
{
	*out = c;
	if (c < 0x1100) {
		if (c == 0x964 || c == 0x965 || c == 0x970 || c == 0xE3F || c == 0xE4F ||
		    c == 0xE5A || c == 0xE5B || c == 0x10FB)
			return K_SEP;
		return K_LETTER;
	}
	if (c < 0x1200)
		return K_UNIGRAM; /* Hangul jamo */
	if (c < 0x1E00) {
		if ((c >= 0x1360 && c <= 0x1368) || c == 0x1680 || (c >= 0x17D4 && c <= 0x17DA) ||
		    (c >= 0x1800 && c <= 0x180A))
			return K_SEP;
		if ((c >= 0x180B && c <= 0x180F) || (c >= 0x1AB0 && c <= 0x1AFF) || c >= 0x1DC0)
			return K_DROP;
		return K_LETTER;
	}
	if (c < 0x1F00)
		return fold_latin_code(c, latin_ext_fold[c - 0x1E00], out);
	if (c < 0x2000)
		return fold_greek_ext(c, out);
	if (c < 0x2070) {
		if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || c >= 0x2060 ||
		    c == 0x2019)
			return K_DROP;
		return K_SEP;
	}
	if (c >= 0x20D0 && c <= 0x20FF)
		return K_DROP;
	if (c >= 0x2C00 && c < 0x2E00)
		return K_LETTER; /* Glagolitic, Latin Extended-C, Coptic, Georgian, Tifinagh, ... */
	return K_SEP;
}

/* Halfwidth Katakana U+FF66-U+FF9D, as Katakana - 0x30A0. */
static const unsigned char halfwidth_kana[] = {
    0x52, 0x01, 0x03, 0x05, 0x07, 0x09, 0x43, 0x45, 0x47, 0x23, 0x5C, 0x02, 0x04, 0x06,
    0x08, 0x0A, 0x0B, 0x0D, 0x0F, 0x11, 0x13, 0x15, 0x17, 0x19, 0x1B, 0x1D, 0x1F, 0x21,
    0x24, 0x26, 0x28, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x32, 0x35, 0x38, 0x3B, 0x3E,
    0x3F, 0x40, 0x41, 0x42, 0x44, 0x46, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4F, 0x53,
};

_Static_assert(sizeof(halfwidth_kana) == 0xFF9D - 0xFF66 + 1, "halfwidth_kana covers U+FF66-9D");

/* U+3000-U+FFFF. */
static int fold_bmp_high(uint32_t c, uint32_t *out)
{
	*out = c;
	if (c < 0x3040)
		return c >= 0x3005 && c <= 0x3007 ? K_UNIGRAM : K_SEP;
	if (c < 0x3100) {
		if (c == 0x3099 || c == 0x309A)
			return K_DROP;
		if (c == 0x309B || c == 0x309C || c == 0x30A0 || c == 0x30FB)
			return K_SEP;
		return K_UNIGRAM;
	}
	if (c < 0x3130)
		return K_LETTER; /* Bopomofo */
	if (c < 0x3190)
		return K_UNIGRAM; /* Hangul compatibility jamo */
	if (c < 0x3400) {
		if ((c >= 0x31A0 && c < 0x31C0))
			return K_LETTER;
		return c >= 0x31F0 && c < 0x3200 ? K_UNIGRAM : K_SEP;
	}
	if (c < 0xA000)
		return c >= 0x4DC0 && c < 0x4E00 ? K_SEP : K_UNIGRAM;
	if (c < 0xAC00)
		return c >= 0xA960 && c < 0xA980 ? K_UNIGRAM : K_LETTER;
	if (c < 0xE000)
		return K_UNIGRAM; /* Hangul (surrogates are never decoded) */
	if (c < 0xF900)
		return K_SEP; /* private use */
	if (c < 0xFB00)
		return K_UNIGRAM;
	if (c < 0xFB07) {
		*out = c == 0xFB06 ? 13 : 8 + (c - 0xFB00);
		return K_EXPAND;
	}
	if (c < 0xFE00) {
		if (c == 0xFB1E)
			return K_DROP;
		if (c == 0xFB29 || c == 0xFD3E || c == 0xFD3F || (c >= 0xFDD0 && c <= 0xFDEF) ||
		    c >= 0xFDFC)
			return K_SEP;
		return K_LETTER;
	}
	if (c < 0xFE70)
		return (c < 0xFE10 || (c >= 0xFE20 && c < 0xFE30)) ? K_DROP : K_SEP;
	if (c < 0xFF00)
		return c == 0xFEFF ? K_DROP : K_LETTER;
	if (c <= 0xFF5A) {
		if (c >= 0xFF10 && c <= 0xFF19)
			*out = '0' + (c - 0xFF10);
		else if (c >= 0xFF21 && c <= 0xFF3A)
			*out = 'a' + (c - 0xFF21);
		else if (c >= 0xFF41)
			*out = 'a' + (c - 0xFF41);
		else
			return c == 0xFF07 ? K_DROP : K_SEP;
		return K_LETTER;
	}
	if (c <= 0xFF65)
		return K_SEP;
	if (c <= 0xFF9D) {
		*out = 0x30A0 + halfwidth_kana[c - 0xFF66];
		return K_UNIGRAM;
	}
	if (c <= 0xFF9F)
		return K_DROP;
	return c <= 0xFFDC ? K_UNIGRAM : K_SEP;
}

/* U+10000-U+10FFFF. */
static int fold_astral(uint32_t c, uint32_t *out)
{
	*out = c;
	if (c < 0x1D000)
		return K_LETTER;
	if (c < 0x1D400)
		return K_SEP;
	if (c < 0x1D6A4) {
		*out = 'a' + (c - 0x1D400) % 52 % 26; /* 13 alphabets of A-Z a-z */
		return K_LETTER;
	}
	if (c < 0x1D6A6) {
		*out = c == 0x1D6A4 ? 'i' : 'j'; /* dotless */
		return K_LETTER;
	}
	if (c >= 0x1D7CE && c < 0x1D800) {
		*out = '0' + (c - 0x1D7CE) % 10; /* 5 styles of 0-9 */
		return K_LETTER;
	}
	if (c < 0x1F000)
		return K_LETTER;
	if (c < 0x20000)
		return K_SEP;
	if (c < 0x40000)
		return K_UNIGRAM;
	return c >= 0xE0000 && c < 0xE1000 ? K_DROP : K_SEP;
}

/* The class of non-ASCII code point @c, and in *@out what it folds to (a code point, or for
 * K_EXPAND an index in expansions[]). */
static int fold(uint32_t c, uint32_t *out)
{
	*out = c;
	if (c < 0x2B0) {
		if (c < 0xC0)
			return c == 0xAD ? K_DROP : K_SEP;
		return fold_latin_code(c, latin_fold[c - 0xC0], out);
	}
	if (c < 0x370) {
		if (c >= 0x300 || c == 0x2BB || c == 0x2BC)
			return K_DROP;
		return K_SEP;
	}
	if (c < 0x400)
		return fold_greek(c, out);
	if (c < 0x530)
		return fold_cyrillic(c, out);
	if (c < 0x800)
		return fold_middle_east(c, out);
	if (c < 0x3000)
		return fold_bmp_low(c, out);
	if (c < 0x10000)
		return fold_bmp_high(c, out);
	return fold_astral(c, out);
}

/* The strictly valid UTF-8 sequence of 2-4 bytes at @p: its length, with the code point in *@cp;
 * 0 if there is none (ASCII included), or @p == @end. */
static inline size_t decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
	size_t avail = (size_t)(end - p);
	if (avail < 2 || p[0] < 0xC2 || p[0] > 0xF4 || (p[1] & 0xC0) != 0x80)
		return 0;
	uint32_t c = p[0];
	if (c < 0xE0) {
		*cp = (c & 0x1F) << 6 | (p[1] & 0x3F);
		return 2;
	}
	if (avail < 3 || (p[2] & 0xC0) != 0x80)
		return 0;
	if (c < 0xF0) {
		c = (c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
		if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))
			return 0;
		*cp = c;
		return 3;
	}
	if (avail < 4 || (p[3] & 0xC0) != 0x80)
		return 0;
	c = (c & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 |
	    (p[3] & 0x3F);
	if (c < 0x10000 || c > 0x10FFFF)
		return 0;
	*cp = c;
	return 4;
}

static size_t encode(char *o, uint32_t c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | (c >> 6 & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | c >> 18);
	o[1] = (char)(0x80 | (c >> 12 & 0x3F));
	o[2] = (char)(0x80 | (c >> 6 & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* The voiced form of kana @k with voicing mark @mark (U+3099 or U+309A), or 0 if none. */
static uint32_t kana_voiced(uint32_t k, uint32_t mark)
{
	uint32_t h = k >= 0x30A1 ? k - 0x60 : k; /* Katakana in the Hiragana layout */
	if (h >= 0x306F && h <= 0x307B && (h - 0x306F) % 3 == 0)
		return k + (mark == 0x3099 ? 1 : 2); /* は ひ ふ へ ほ: ば ぱ ... */
	if (mark != 0x3099)
		return 0;
	if ((h >= 0x304B && h <= 0x3061 && (h & 1)) || h == 0x3064 || h == 0x3066 || h == 0x3068 ||
	    h == 0x309D)
		return k + 1; /* か-ち つ て と ゝ ヽ */
	if (h == 0x3046)
		return k + 0x4E; /* ゔ ヴ */
	if (k >= 0x30EF && k <= 0x30F2)
		return k + 8; /* ヷ-ヺ */
	return 0;
}

/* Unigram @u, combined with what follows at *@pp when it composes with it (rule 5). */
static uint32_t compose(uint32_t u, const unsigned char **pp, const unsigned char *end)
{
	uint32_t next;
	size_t k = decode(*pp, end, &next);
	if (!k)
		return u;
	if (u >= 0x3040 && u <= 0x30FF) {
		if (next == 0xFF9E || next == 0xFF9F)
			next -= 0xFF9E - 0x3099;
		uint32_t v = next == 0x3099 || next == 0x309A ? kana_voiced(u, next) : 0;
		if (v) {
			*pp += k;
			u = v;
		}
		return u;
	}
	if (u >= 0x1100 && u <= 0x1112 && next >= 0x1161 && next <= 0x1175) {
		u = 0xAC00 + ((u - 0x1100) * 21 + (next - 0x1161)) * 28; /* L V */
		*pp += k;
		k = decode(*pp, end, &next);
		if (!k)
			return u;
	} else if (!(u >= 0xAC00 && u <= 0xD7A3 && (u - 0xAC00) % 28 == 0)) {
		return u; /* not an LV syllable */
	}
	if (next >= 0x11A8 && next <= 0x11C2) {
		u += next - 0x11A7; /* LV T */
		*pp += k;
	}
	return u;
}

/* The token being built.  Once a code point does not fit, lim drops to n so that nothing more of
 * the run is added. */
typedef struct tok {
	size_t n;
	size_t lim;
	char buf[BT_STORE__TOKEN_MAX];
} tok;

static inline void put(tok *t, uint32_t c)
{
	size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
	if (t->n + k > t->lim) {
		t->lim = t->n;
		return;
	}
	t->n += encode(t->buf + t->n, c);
}

static inline int flush(tok *t, bt_store__token_fn fn, void *ud)
{
	size_t n = t->n;
	t->n = 0;
	t->lim = BT_STORE__TOKEN_MAX;
	return n ? fn(t->buf, n, ud) : 0;
}

int bt_store__tokenize(const char *text, size_t len, bt_store__token_fn fn, void *ud)
{
	if (!len)
		return 0;
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	tok t = {0, BT_STORE__TOKEN_MAX, {0}};
	int rc;
	while (p < end) {
		if (*p < 0x80) {
			unsigned f = ascii_fold[*p++];
			if (f > A_DROP) {
				if (t.n < t.lim)
					t.buf[t.n++] = (char)f;
			} else if (f == A_SEP && t.n && (rc = flush(&t, fn, ud)))
				return rc;
			continue;
		}
		uint32_t c, out;
		size_t k = decode(p, end, &c);
		if (!k) {
			p++; /* not UTF-8: a separator */
			if ((rc = flush(&t, fn, ud)))
				return rc;
			continue;
		}
		p += k;
		switch (fold(c, &out)) {
		case K_DROP:
			break;
		case K_LETTER:
			if ((c == 0x438 || c == 0x418) && end - p >= 2 && p[0] == 0xCC &&
			    p[1] == 0x86) {
				out = 0x439; /* и + U+0306: й */
				p += 2;
			}
			put(&t, out);
			break;
		case K_EXPAND:
			for (const char *s = expansions[out]; *s; s++)
				put(&t, (unsigned char)*s);
			break;
		case K_UNIGRAM: {
			char u[4];
			out = compose(out, &p, end);
			if ((rc = flush(&t, fn, ud)) || (rc = fn(u, encode(u, out), ud)))
				return rc;
			break;
		}
		default:
			if ((rc = flush(&t, fn, ud)))
				return rc;
		}
	}
	return flush(&t, fn, ud);
}
