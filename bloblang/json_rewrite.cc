#include "bloblang/json_rewrite.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

#include "bloblang/value.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace drover::bloblang {
namespace {

// Deeper text is left to the general decoder (which allows 1000 levels): the scan and the
// writer recurse once per level.
constexpr int kMaxDepth = 64;

// Bytes that stand for themselves inside a JSON string and that the encoder writes unchanged:
// printable ASCII (and DEL) but for the quote and the backslash.
struct PlainTable {
  bool plain[256] = {};
  constexpr PlainTable() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainTable kPlainBytes;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Past any whitespace at `p`; clears *compact when there was some.
inline const char* SkipSpace(const char* p, const char* end, bool* compact) {
  if (p<end&& static_cast<unsigned char>(*p)> ' ') return p;  // the usual case
  const char* start = p;
  while (p < end && IsSpace(*p)) ++p;
  if (p != start) *compact = false;
  return p;
}

// Past the bytes of a string that stand for themselves.
inline const char* SkipPlain(const char* p, const char* end) {
#if defined(__SSE2__)
  // 16 at a time while none is a quote, a backslash, a control byte or non-ASCII (a signed
  // compare puts the bytes from 0x80 up below 0x20 too).
  while (end - p >= 16) {
    __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\'))),
                                   _mm_cmplt_epi8(chunk, _mm_set1_epi8(0x20)));
    int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && kPlainBytes.plain[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// The first 8 bytes of the `size` bytes at `p`, big-endian, zero-padded: comparing two prefixes
// as numbers orders the keys as comparing their bytes would, but for ties. `limit` bounds what
// may be read.
inline uint64_t PrefixOf(const char* p, size_t size, const char* limit) {
  uint64_t v = 0;
  if (size >= 8 || limit - p >= 8) {
    std::memcpy(&v, p, 8);
    v = __builtin_bswap64(v);
    if (size < 8) v &= ~(~uint64_t{0} >> (8 * size));
    return v;
  }
  for (size_t k = 0; k < 8; ++k) v = (v << 8) | (k < size ? static_cast<unsigned char>(p[k]) : 0);
  return v;
}

inline uint64_t PrefixOf(std::string_view key) {
  return PrefixOf(key.data(), key.size(), key.data() + key.size());
}

// The rest of a string after its opening quote, from `p` on: where it ends (past the closing
// quote), or null when it is not a valid JSON string. *flags gets kVerbatim and kPlain as they
// hold.
template <uint16_t kVerbatim, uint16_t kPlain>
[[gnu::noinline]] const char* ScanStringRest(const char* p, const char* end, uint16_t* flags) {
  uint16_t f = kVerbatim | kPlain;
  while (true) {
    p = SkipPlain(p, end);
    if (p >= end) return nullptr;
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"') {
      *flags = f;
      return p + 1;
    }
    if (c < 0x20) return nullptr;  // a raw control character
    if (c >= 0x80) {
      unsigned cp = 0;
      std::string_view rest(p, static_cast<size_t>(end - p));
      size_t len = DecodeUtf8(rest, 0, &cp);
      if (len == 0) {
        // Invalid UTF-8 decodes to U+FFFD: neither plain nor written as it is.
        f = 0;
        ++p;
      } else {
        if (cp == 0x2028 || cp == 0x2029) f &= static_cast<uint16_t>(~kVerbatim);  // escaped
        p += len;
      }
    } else {
      // A backslash.
      f &= static_cast<uint16_t>(~kPlain);
      if (end - p < 2) return nullptr;
      switch (p[1]) {
        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p += 2;  // the encoder writes these characters with these very escapes
          break;
        case '/':
          f = 0;
          p += 2;
          break;
        case 'u':
          // Written again: whether the encoder would write the same \u escape depends on the
          // code point and on surrogate pairing, which the general decoder settles.
          f = 0;
          if (end - p < 6) return nullptr;
          for (int k = 2; k < 6; ++k) {
            if (HexDigitValue(p[k]) < 0) return nullptr;
          }
          p += 6;
          break;
        default:
          return nullptr;
      }
    }
  }
}

// The rest of a string after its opening quote at `p`, in a text from `base` to `end`; see
// ScanStringRest.
template <uint16_t kVerbatim, uint16_t kPlain>
inline const char* ScanString(const char* p, const char* base, const char* end, uint16_t* flags) {
#if defined(__SSE2__)
  // Where the closing quote is when no byte before it needs a closer look, from bit masks of 16
  // bytes at a time (so that nothing waits for a load at the position found). The last bytes of
  // the text are read as the text's last 16, shifted.
  while (true) {
    const char* at = p;
    unsigned shift = 0;
    if (end - p < 16) {
      if (end - base < 16 || p >= end) break;
      at = end - 16;
      shift = static_cast<unsigned>(16 - (end - p));
    }
    __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    unsigned quote =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')))) >>
        shift;
    unsigned special = static_cast<unsigned>(_mm_movemask_epi8(
                           _mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\')),
                                        _mm_cmplt_epi8(chunk, _mm_set1_epi8(0x20))))) >>
                       shift;
    unsigned before = quote != 0 ? (quote & (0u - quote)) - 1 : 0xFFFFu >> shift;
    if (special & before) break;  // an escape, a control byte or non-ASCII first
    if (quote != 0) [[likely]] {
      *flags = kVerbatim | kPlain;
      return p + __builtin_ctz(quote) + 1;
    }
    if (shift != 0) return nullptr;  // no closing quote
    p += 16;
  }
#else
  (void)base;
#endif
  return ScanStringRest<kVerbatim, kPlain>(p, end, flags);
}

// The bytes of `v` that are no ASCII digit: 0x80 in each, 0 in the digits' (no carry crosses
// a byte: the high bit is cleared before the add).
inline uint64_t NonDigits(uint64_t v) {
  const uint64_t x = v ^ 0x3030303030303030ULL;  // a digit's byte is now 0..9
  return (((x & 0x7F7F7F7F7F7F7F7FULL) + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL;
}

// Past the ASCII digits at `p`, in a text from `base` to `end`.
inline const char* SkipDigits(const char* p, const char* base, const char* end) {
  if constexpr (std::endian::native == std::endian::little) {
    // Eight bytes at a time; the last ones as the text's last eight, shifted past the ones
    // before p (so that the digits' count decides no branch).
    while (end - p >= 8) {
      uint64_t v = 0;
      std::memcpy(&v, p, 8);
      const uint64_t other = NonDigits(v);
      if (other != 0) return p + __builtin_ctzll(other) / 8;
      p += 8;
    }
    if (p < end && end - base >= 8) {
      uint64_t v = 0;
      std::memcpy(&v, end - 8, 8);
      const uint64_t other = NonDigits(v) >> (8 * (8 - (end - p)));
      return other != 0 ? p + __builtin_ctzll(other) / 8 : end;
    }
  }
  while (p < end && IsDigit(*p)) ++p;
  return p;
}

// The rest of a number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, as the decoder reads
// it), or null. *verbatim: whether the encoder prints it as written. An integer of up to 18
// digits is an int64 or uint64 that does, but for "-0" (which prints "0"); floats, and longer
// integers, are printed again.
const char* ScanNumber(const char* p, const char* base, const char* end, bool* verbatim) {
  bool negative = *p == '-';
  if (negative) ++p;
  if (p >= end || !IsDigit(*p)) return nullptr;
  const char* digits = p;
  if (*p == '0') {
    ++p;
  } else {
    p = SkipDigits(p, base, end);
  }
  bool integer = true;
  size_t count = static_cast<size_t>(p - digits);
  if (p < end && *p == '.') {
    integer = false;
    ++p;
    if (p >= end || !IsDigit(*p)) return nullptr;
    p = SkipDigits(p, base, end);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integer = false;
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p >= end || !IsDigit(*p)) return nullptr;
    p = SkipDigits(p, base, end);
  }
  *verbatim = integer && count <= 18 && !(negative && *digits == '0');
  return p;
}

// Copies n bytes; short copies (the usual member or run of members) without a call, by
// two overlapping moves of the largest size that fits.
inline void CopyBytes(char* to, const char* from, size_t n) {
  if (n > 32) {
    std::memcpy(to, from, n);
  } else if (n >= 16) {
    char a[16], b[16];
    std::memcpy(a, from, 16);
    std::memcpy(b, from + n - 16, 16);
    std::memcpy(to, a, 16);
    std::memcpy(to + n - 16, b, 16);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, from, 8);
    std::memcpy(&b, from + n - 8, 8);
    std::memcpy(to, &a, 8);
    std::memcpy(to + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, from, 4);
    std::memcpy(&b, from + n - 4, 4);
    std::memcpy(to, &a, 4);
    std::memcpy(to + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i) to[i] = from[i];
  }
}

// Writes into a buffer known to be large enough, with kSlack bytes to spare after the end.
constexpr size_t kSlack = 64;
struct RawSink {
  char* at;
  const char* text_end;  // the end of the text that Text() copies from
  void Bytes(const char* p, size_t n) {
    CopyBytes(at, p, n);
    at += n;
  }
  // Bytes of the text: a short span is copied with the 32 bytes from its start when the text
  // has them, whatever its length (the bytes past it are overwritten next, or are slack).
  void Text(const char* p, size_t n) {
    if (n <= 32 && text_end - p >= 32) {
      std::memcpy(at, p, 32);
    } else {
      CopyBytes(at, p, n);
    }
    at += n;
  }
  void Char(char c) { *at++ = c; }
};

struct StringSink {
  std::string* out;
  void Bytes(const char* p, size_t n) { out->append(p, n); }
  void Char(char c) { out->push_back(c); }
};

}  // namespace

void JsonObjectRewriter::GrowMembers(size_t size) {
  members_.resize(std::max<size_t>({64, size, members_.size() * 2}));
}

void JsonObjectRewriter::Grow() { tape_.resize(std::max<size_t>(64, tape_.size() * 2)); }

inline JsonObjectRewriter::Token& JsonObjectRewriter::Add() {
  if (count_ == tape_.size()) [[unlikely]] {
    Grow();
  }
  return tape_[count_++];
}

inline JsonObjectRewriter::Token& JsonObjectRewriter::AddScalar(const char* begin, const char* end,
                                                                Kind kind, uint16_t flags) {
  uint32_t index = count_;
  Token& t = Add();
  t.begin = static_cast<uint32_t>(begin - base_);
  t.end = static_cast<uint32_t>(end - base_);
  t.next = index + 1;
  t.kind = kind;
  t.flags = flags;
  return t;
}

bool JsonObjectRewriter::Scan(std::string_view text) {
  count_ = 0;
  decoded_count_ = 0;
  members_size_ = 0;
  top_members_ = 0;
  adjacent_ = true;
  if (text.size() >= std::numeric_limits<uint32_t>::max()) return false;
  // A very large text's buffers are not kept for the small ones that follow.
  if (tape_.size() > (1u << 16)) std::vector<Token>().swap(tape_);
  if (members_.size() > (1u << 16)) std::vector<Member>().swap(members_);
  if (decoded_keys_.size() > (1u << 10)) std::vector<std::string>().swap(decoded_keys_);
  base_ = text.data();
  end_ = base_ + text.size();
  bool compact = true;
  const char* p = SkipSpace(base_, end_, &compact);
  if (p >= end_ || *p != '{') return false;
  if (tape_.empty()) Grow();
  p = ScanTop(p);
  if (p == nullptr) return false;
  top_members_ = members_size_;
  p = SkipSpace(p, end_, &compact);
  return p == end_;  // Bento's decoder refuses anything after the document but space
}

inline const char* JsonObjectRewriter::ScanValue(const char* p, int depth, uint16_t* flags) {
  if (p >= end_) return nullptr;
  switch (*p) {
    case '{':
    case '[': {
      uint32_t index = count_;
      p = ScanContainer(p, depth + 1);
      if (p != nullptr) *flags = tape_[index].flags;
      return p;
    }
    case '"':
      return ScanScalar(p, Kind::kString, flags);
    case 't':
    case 'f':
    case 'n':
      return ScanScalar(p, Kind::kLiteral, flags);
    default:
      return ScanScalar(p, Kind::kNumber, flags);
  }
}

inline const char* JsonObjectRewriter::ScalarEnd(const char* p, Kind kind, uint16_t* flags_out) {
  switch (kind) {
    case Kind::kString:
      return ScanString<kVerbatim, kPlain>(p + 1, base_, end_, flags_out);
    case Kind::kNumber: {
      bool verbatim = false;
      const char* end = ScanNumber(p, base_, end_, &verbatim);
      *flags_out = verbatim ? kVerbatim : 0;
      return end;
    }
    default: {
      std::string_view word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
      if (static_cast<size_t>(end_ - p) < word.size() || std::memcmp(p, word.data(), word.size())) {
        return nullptr;
      }
      *flags_out = kVerbatim;
      return p + word.size();
    }
  }
}

inline const char* JsonObjectRewriter::ScanScalar(const char* p, Kind kind, uint16_t* flags_out) {
  uint16_t flags = 0;
  const char* end = ScalarEnd(p, kind, &flags);
  if (end == nullptr) return nullptr;
  AddScalar(p, end, kind, flags);
  *flags_out = flags;
  return end;
}

inline const char* JsonObjectRewriter::ScanKey(const char* p, uint16_t* flags_out,
                                               uint64_t* prefix) {
  if (p >= end_ || *p != '"') return nullptr;
  uint16_t flags = 0;
  const char* end = ScanString<kVerbatim, kPlain>(p + 1, base_, end_, &flags);
  if (end == nullptr) return nullptr;
  Token& t = AddScalar(p, end, Kind::kString, flags);
  *flags_out = flags;
  if (flags & kPlain) [[likely]] {
    t.prefix = *prefix = PrefixOf(p + 1, static_cast<size_t>(end - p - 2), end_);
    return end;
  }
  if (!DecodeKey(t)) return nullptr;
  *prefix = t.prefix;
  return end;
}

bool JsonObjectRewriter::DecodeKey(Token& key) {
  // Keys are compared and sorted as decoded.
  Json decoded;
  std::string ignored;
  std::string_view text(base_ + key.begin, key.end - key.begin);
  if (!ParseJsonDocument(text, &decoded, &ignored) || !decoded.is_string()) return false;
  if (decoded_count_ == decoded_keys_.size()) decoded_keys_.emplace_back();
  decoded_keys_[decoded_count_] = std::move(decoded.get_ref<std::string&>());
  key.decoded = static_cast<uint32_t>(decoded_count_++);
  key.prefix = PrefixOf(decoded_keys_[key.decoded]);
  return true;
}

const char* JsonObjectRewriter::ScanContainer(const char* p, int depth) {
  if (depth > kMaxDepth) return nullptr;
  const bool object = *p == '{';
  const char close = object ? '}' : ']';
  const char* begin = p;
  uint32_t index = count_;
  Add();
  bool compact = true;   // no whitespace anywhere in it
  bool verbatim = true;  // every key and value in it verbatim
  bool sorted = true;
  p = SkipSpace(p + 1, end_, &compact);
  if (p >= end_) return nullptr;
  if (*p == close) {
    ++p;
  } else {
    uint32_t previous_key = 0;
    uint64_t previous_prefix = 0;
    while (true) {
      uint32_t key = count_;
      uint16_t key_flags = 0;
      const char* key_end = nullptr;
      if (object) {
        uint64_t prefix = 0;
        p = key_end = ScanKey(p, &key_flags, &prefix);
        if (p == nullptr) return nullptr;
        verbatim = verbatim && (key_flags & kVerbatim);
        if (previous_key != 0 && sorted) {
          sorted = KeyLess(previous_prefix, tape_[previous_key], prefix, tape_[key]);
        }
        previous_key = key;
        previous_prefix = prefix;
        p = SkipSpace(p, end_, &compact);
        if (p >= end_ || *p != ':') return nullptr;
        p = SkipSpace(p + 1, end_, &compact);
      }
      const char* value_begin = p;
      uint16_t value_flags = 0;
      p = ScanValue(p, depth, &value_flags);
      if (p == nullptr) return nullptr;
      verbatim = verbatim && (value_flags & kVerbatim);
      if (object && (value_flags & key_flags & kVerbatim) && value_begin == key_end + 1) {
        tape_[key].flags |= kCopies;
      }
      p = SkipSpace(p, end_, &compact);
      if (p >= end_) return nullptr;
      if (*p == close) {
        ++p;
        break;
      }
      if (*p != ',') return nullptr;
      p = SkipSpace(p + 1, end_, &compact);
    }
  }
  Token& t = tape_[index];
  t.begin = static_cast<uint32_t>(begin - base_);
  t.end = static_cast<uint32_t>(p - base_);
  t.next = count_;
  t.kind = object ? Kind::kObject : Kind::kArray;
  t.flags = static_cast<uint16_t>((compact && verbatim && sorted ? kVerbatim : 0) |
                                  (sorted ? kSorted : 0));
  return p;
}

// ScanContainer's work for the top-level object, which every text has: the same tokens and
// checks, with its members recorded as they are read, and without what only a nested object
// needs (whether it is written exactly as the encoder would write it: the top-level object is
// always written again from its members). The tape and members are written through locals
// (their stores could otherwise alias the counts, which would be reloaded after each), and
// handed back to the members around the scan of a nested array or object.
const char* JsonObjectRewriter::ScanTop(const char* p) {
  const char* const base = base_;
  const char* const end = end_;
  const char* const begin = p;
  const KeyPattern* const patterns = patterns_.data();
  const size_t pattern_count = patterns_.size();
  Token* tape = tape_.data();
  size_t capacity = tape_.size();
  uint32_t count = 1;  // tape[0]: the object, filled in at the end
  Member* members = members_.data();
  size_t member_capacity = members_.size();
  size_t member_count = 0;
  auto add = [&](const char* from, const char* to, Kind kind, uint16_t flags) -> Token& {
    Token& t = tape[count];
    t.begin = static_cast<uint32_t>(from - base);
    t.end = static_cast<uint32_t>(to - base);
    t.next = count + 1;
    t.kind = kind;
    t.flags = flags;
    ++count;
    return t;
  };
  bool sorted = true;
  bool ignored = true;
  size_t same_keys = SIZE_MAX;  // the first member whose key is not as in patterns_
  bool adjacent = true;         // each member right after the comma ending the one before
  p = SkipSpace(p + 1, end, &ignored);
  if (p >= end) return nullptr;
  if (*p == '}') {
    ++p;
  } else {
    uint64_t previous_prefix = 0;
    uint32_t previous_key = 0;
    uint32_t previous_end = static_cast<uint32_t>(p - base) - 1;
    while (true) {
      if (capacity - count < 2 || member_count == member_capacity) [[unlikely]] {
        count_ = count;
        if (capacity - count < 2) Grow();
        if (member_count == member_capacity) GrowMembers(member_count + 1);
        tape = tape_.data();
        capacity = tape_.size();
        members = members_.data();
        member_capacity = members_.size();
      }
      // The key: the one at this place in the previous text when it is the same, else scanned.
      if (*p != '"') return nullptr;
      const uint32_t key = count;
      const uint32_t key_begin = static_cast<uint32_t>(p - base);
      uint16_t key_flags = 0;
      const char* key_end = nullptr;
      uint64_t prefix = 0;
      if (member_count < pattern_count && MatchesKey(p, patterns[member_count])) {
        const KeyPattern& pattern = patterns[member_count];
        key_end = p + pattern.size - 1;  // the colon
        key_flags = kVerbatim | kPlain;
        prefix = add(p, key_end, Kind::kString, key_flags).prefix = pattern.prefix;
      } else {
        same_keys = std::min(same_keys, member_count);
        key_end = ScanString<kVerbatim, kPlain>(p + 1, base, end, &key_flags);
        if (key_end == nullptr) return nullptr;
        Token& key_token = add(p, key_end, Kind::kString, key_flags);
        if (key_flags & kPlain) [[likely]] {
          prefix = key_token.prefix = PrefixOf(p + 1, static_cast<size_t>(key_end - p - 2), end);
        } else {
          if (!DecodeKey(key_token)) return nullptr;
          prefix = key_token.prefix;
        }
      }
      if (previous_key != 0 && sorted) {
        sorted = previous_prefix != prefix ? previous_prefix < prefix
                                           : KeyOf(tape[previous_key]) < KeyOf(tape[key]);
      }
      previous_key = key;
      previous_prefix = prefix;
      // The colon.
      p = key_end;
      if (p < end && *p == ':') [[likely]] {
        ++p;
      } else {
        p = SkipSpace(p, end, &ignored);
        if (p >= end || *p != ':') return nullptr;
        ++p;
      }
      // The value.
      p = SkipSpace(p, end, &ignored);
      if (p >= end) return nullptr;
      const char* const value_begin = p;
      uint16_t value_flags = 0;
      Kind kind = Kind::kNumber;
      switch (*p) {
        case '{':
        case '[': {
          count_ = count;
          p = ScanContainer(p, 2);
          if (p == nullptr) return nullptr;
          value_flags = tape_[count].flags;
          count = count_;
          tape = tape_.data();
          capacity = tape_.size();
          break;
        }
        case '"':
          kind = Kind::kString;
          break;
        case 't':
        case 'f':
        case 'n':
          kind = Kind::kLiteral;
          break;
        default:
          break;
      }
      const bool scalar = p == value_begin;
      if (scalar) {
        p = ScalarEnd(value_begin, kind, &value_flags);
        if (p == nullptr) return nullptr;
      }
      // (The top-level object's members say whether they are copied; its keys' tokens do not.)
      const uint32_t copies =
          (value_flags & key_flags & kVerbatim) && value_begin == key_end + 1 ? 1 : 0;
      if (scalar) {
        // A member copied as it stands never reads its value's token: only its place is kept.
        if (copies == 0) {
          add(value_begin, p, kind, value_flags);
        } else {
          ++count;
        }
      }
      adjacent = adjacent && key_begin == previous_end + 1;
      previous_end = static_cast<uint32_t>(p - base);
      members[member_count] =
          Member(prefix, key, key_begin, previous_end, copies, static_cast<uint32_t>(member_count));
      ++member_count;
      // A comma and the next member, or the end.
      if (p < end && *p == ',') [[likely]] {
        ++p;
      } else {
        p = SkipSpace(p, end, &ignored);
        if (p >= end) return nullptr;
        if (*p == '}') {
          ++p;
          break;
        }
        if (*p != ',') return nullptr;
        ++p;
      }
      p = SkipSpace(p, end, &ignored);
      if (p >= end) return nullptr;
    }
  }
  count_ = count;
  members_size_ = member_count;
  adjacent_ = adjacent;
  Token& t = tape[0];
  t.begin = static_cast<uint32_t>(begin - base);
  t.end = static_cast<uint32_t>(p - base);
  t.next = count;
  t.kind = Kind::kObject;
  t.flags = sorted ? kSorted : 0;
  if (same_keys < member_count || member_count != pattern_count) {
    KeepKeyPatterns(std::min(same_keys, member_count));
  }
  return p;
}

namespace {

inline uint64_t Load8(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

inline bool JsonObjectRewriter::MatchesKey(const char* p, const KeyPattern& pattern) const {
  const size_t n = pattern.size;  // 0 (none) or 3 to kMaxPattern
  if (n == 0 || end_ - p < static_cast<ptrdiff_t>(std::max<size_t>(n, 8))) return false;
  uint64_t differ = (Load8(p) ^ pattern.words[0]) & pattern.first_mask;
  if (n > 8) differ |= Load8(p + n - 8) ^ pattern.words[3];
  if (n > 16) differ |= Load8(p + 8) ^ pattern.words[1];
  if (n > 24) differ |= Load8(p + 16) ^ pattern.words[2];
  return differ == 0;
}

void JsonObjectRewriter::KeepKeyPatterns(size_t from) {
  if (members_size_ > kMaxPatterns) {
    patterns_.clear();
    return;
  }
  patterns_.resize(members_size_);
  for (size_t i = from; i < members_size_; ++i) {
    KeyPattern& pattern = patterns_[i];
    const Token& key = tape_[members_[i].key];
    const size_t n = key.end - key.begin + 1;  // with the colon
    pattern.size = 0;
    if ((key.flags & (kVerbatim | kPlain)) != (kVerbatim | kPlain) || n > kMaxPattern ||
        base_ + key.end >= end_ || base_[key.end] != ':') {
      continue;
    }
    char bytes[kMaxPattern] = {};
    std::memcpy(bytes, base_ + key.begin, n);
    pattern.words[0] = Load8(bytes);
    pattern.words[1] = Load8(bytes + 8);
    pattern.words[2] = Load8(bytes + 16);
    pattern.words[3] = n >= 8 ? Load8(bytes + n - 8) : 0;
    pattern.first_mask = n >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
    if constexpr (std::endian::native != std::endian::little) pattern.first_mask = ~uint64_t{0};
    pattern.prefix = key.prefix;
    pattern.size = static_cast<uint32_t>(n);
  }
}

std::string_view JsonObjectRewriter::KeyOf(const Token& key) const {
  if (key.flags & kPlain) return std::string_view(base_ + key.begin + 1, key.end - key.begin - 2);
  return decoded_keys_[key.decoded];
}

bool JsonObjectRewriter::KeyLess(uint64_t a_prefix, const Token& a, uint64_t b_prefix,
                                 const Token& b) const {
  if (a_prefix != b_prefix) return a_prefix < b_prefix;
  return KeyOf(a) < KeyOf(b);
}

size_t JsonObjectRewriter::SortedMembers(uint32_t object) {
  size_t start = members_size_;
  if (object == 0) {
    start = 0;  // the scan recorded them
    members_size_ = top_members_;
  } else {
    const uint32_t next = tape_[object].next;
    uint32_t position = 0;
    for (uint32_t j = object + 1; j < next; j = tape_[j + 1].next) {
      if (members_size_ == members_.size()) GrowMembers(members_size_ + 1);
      members_[members_size_++] = Member(tape_[j], j, tape_[j + 1], position++);
    }
  }
  if (tape_[object].flags & kSorted) return start;
  auto less = [this](const Member& a, const Member& b) {
    return KeyLess(a.prefix, tape_[a.key], b.prefix, tape_[b.key]);
  };
  Member* begin = members_.data() + start;
  Member* end = members_.data() + members_size_;
  if (end - begin <= 16) {
    for (Member* it = begin + 1; it < end; ++it) {  // insertion sort: stable
      Member m = *it;
      Member* hole = it;
      while (hole > begin && less(m, *(hole - 1))) {
        *hole = *(hole - 1);
        --hole;
      }
      *hole = m;
    }
  } else {
    std::stable_sort(begin, end, less);
  }
  // A repeated key keeps its last value: of equal keys, now adjacent in input order, keep the
  // last.
  size_t kept = start;
  for (size_t k = start; k < members_size_; ++k) {
    if (k + 1 < members_size_ && !less(members_[k], members_[k + 1])) continue;
    members_[kept++] = members_[k];
  }
  members_size_ = kept;
  return start;
}

bool JsonObjectRewriter::WriteScalar(const Token& t, std::string* out) {
  Json value;
  std::string ignored;
  if (!ParseJsonDocument(std::string_view(base_ + t.begin, t.end - t.begin), &value, &ignored)) {
    return false;
  }
  std::string bad;
  return AppendJson(value, JsonStyle{}, out, &bad);
}

bool JsonObjectRewriter::WriteMember(const Member& m, std::string* out) {
  if (m.copies) {
    out->append(base_ + m.begin, m.end - m.begin);  // "key":value as it stands
    return true;
  }
  const Token& key = tape_[m.key];
  if (key.flags & kVerbatim) {
    out->append(base_ + key.begin, key.end - key.begin);
  } else {
    AppendJsonString(KeyOf(key), /*escape_html=*/false, out);
  }
  out->push_back(':');
  return WriteValue(m.key + 1, out);
}

bool JsonObjectRewriter::WriteValue(uint32_t index, std::string* out) {
  const Token& t = tape_[index];
  if (t.flags & kVerbatim) {
    out->append(base_ + t.begin, t.end - t.begin);
    return true;
  }
  switch (t.kind) {
    case Kind::kArray: {
      out->push_back('[');
      const uint32_t next = t.next;
      for (uint32_t j = index + 1; j < next; j = tape_[j].next) {
        if (j != index + 1) out->push_back(',');
        if (!WriteValue(j, out)) return false;
      }
      out->push_back(']');
      return true;
    }
    case Kind::kObject: {
      size_t mark = members_size_;
      size_t start = SortedMembers(index);
      size_t end = members_size_;
      out->push_back('{');
      for (size_t k = start; k < end; ++k) {
        if (k != start) out->push_back(',');
        Member m = members_[k];  // a copy: writing it may grow members_
        if (!WriteMember(m, out)) return false;
      }
      out->push_back('}');
      members_size_ = mark;
      return true;
    }
    default:
      return WriteScalar(t, out);
  }
}

// The top-level members from members_[start] on, merged with the edits in key order. With
// `record`, the steps go to layout_.steps.
template <typename Sink>
bool JsonObjectRewriter::Merge(size_t start, std::span<const FieldEdit> edits, Sink& sink,
                               bool record) {
  sink.Char('{');
  bool first = true;
  size_t k = start;
  const size_t end = members_size_;
  size_t e = 0;
  uint64_t edit_prefix = e < edits.size() ? PrefixOf(edits[e].key) : 0;
  // <0: member k comes first; 0: same key; >0: edit e comes first.
  auto order = [&](size_t k, size_t e) {
    if (k == end) return 1;
    if (e == edits.size()) return -1;
    if (members_[k].prefix != edit_prefix) return members_[k].prefix < edit_prefix ? -1 : 1;
    return KeyOf(tape_[members_[k].key]).compare(edits[e].key);
  };
  while (k < end || e < edits.size()) {
    int o = order(k, e);
    if (o < 0) {
      if (!first) sink.Char(',');
      first = false;
      Member m = members_[k++];
      if constexpr (std::is_same_v<Sink, RawSink>) {
        // With the members that follow it in the text too, up to the next edit.
        uint32_t stop = m.end;
        uint32_t last = m.index;
        while (k < end && members_[k].begin == stop + 1 && order(k, e) < 0) {
          last = members_[k].index;
          stop = members_[k++].end;
        }
        sink.Text(base_ + m.begin, stop - m.begin);
        if (record) {
          layout_.steps.push_back(Step{m.index, last});
          layout_.runs = layout_.runs || last != m.index;
        }
      } else {
        if (!WriteMember(m, sink.out)) return false;
      }
      continue;
    }
    if (o == 0) ++k;  // the edit replaces or removes the member
    if (!edits[e].member.empty()) {
      if (!first) sink.Char(',');
      first = false;
      sink.Bytes(edits[e].member.data(), edits[e].member.size());
      if (record) layout_.steps.push_back(Step{kEditStep, static_cast<uint32_t>(e)});
    }
    ++e;
    if (e < edits.size()) edit_prefix = PrefixOf(edits[e].key);
  }
  sink.Char('}');
  return true;
}

bool JsonObjectRewriter::LayoutServes(size_t start, std::span<const FieldEdit> edits) const {
  if (members_size_ - start != top_members_) return false;  // a repeated key was dropped
  for (size_t k = start; k < members_size_; ++k) {
    if (k + 1 < members_size_ && members_[k].prefix == members_[k + 1].prefix) return false;
    for (const FieldEdit& edit : edits) {
      if (members_[k].prefix == PrefixOf(edit.key)) return false;
    }
  }
  return true;
}

namespace {

// Whether two keys are the same, without a call for the usual short key.
inline bool SameKey(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.size() >= 8 && a.size() <= 16) {
    uint64_t a1, a2, b1, b2;
    std::memcpy(&a1, a.data(), 8);
    std::memcpy(&a2, a.data() + a.size() - 8, 8);
    std::memcpy(&b1, b.data(), 8);
    std::memcpy(&b2, b.data() + b.size() - 8, 8);
    return ((a1 ^ b1) | (a2 ^ b2)) == 0;
  }
  return a == b;
}

// Copies the `n` bytes at `from` to `to`, which has kSlack bytes to spare after them; `limit`
// bounds what may be read after `from`. A short copy moves 32 or 64 bytes whatever `n`.
inline void CopyRun(char* to, const char* from, size_t n, const char* limit) {
  static_assert(kSlack >= 64);
  if (n <= 32 && limit - from >= 32) {
    std::memcpy(to, from, 32);
  } else if (n <= 64 && limit - from >= 64) {
    std::memcpy(to, from, 64);
  } else {
    CopyBytes(to, from, n);
  }
}

}  // namespace

bool JsonObjectRewriter::WriteByLayout(std::span<const FieldEdit> edits, std::string* out) {
  const Layout& layout = layout_;
  const size_t count = top_members_;
  if (!layout.valid || layout.prefixes.size() != count || layout.edits.size() != edits.size() ||
      (layout.runs && !adjacent_)) {
    return false;
  }
  const Member* m = members_.data();  // in text order: not sorted yet
  const uint64_t* prefixes = layout.prefixes.data();
  uint64_t differ = 0;
  for (size_t i = 0; i < count; ++i) differ |= (m[i].prefix ^ prefixes[i]) | (m[i].copies ^ 1);
  if (differ != 0) return false;
  size_t size = static_cast<size_t>(end_ - base_) + layout.steps.size() + 2;
  for (size_t e = 0; e < edits.size(); ++e) {
    const LayoutEdit& edit = layout.edits[e];
    if (edits[e].member.empty() != edit.removes || !SameKey(edits[e].key, edit.key)) return false;
    size += edits[e].member.size();
  }
  out->resize(size + kSlack);
  char* const start = out->data();
  char* at = start;
  const char* const base = base_;
  const char* const limit = end_;
  *at++ = '{';
  for (const Step& step : layout.steps) {
    if (step.first == kEditStep) {
      // The member has kMemberSlack bytes after it (FieldEdit).
      const std::string_view member = edits[step.last].member;
      static_assert(kMemberSlack >= 64);
      if (member.size() <= 64) {
        std::memcpy(at, member.data(), 64);
      } else {
        std::memcpy(at, member.data(), member.size());
      }
      at += member.size();
    } else {
      const char* from = base + m[step.first].begin;
      const size_t n = m[step.last].end - m[step.first].begin;
      CopyRun(at, from, n, limit);
      at += n;
    }
    *at++ = ',';
  }
  if (at - start > 1) --at;  // the last comma
  *at++ = '}';
  out->resize(static_cast<size_t>(at - start));
  return true;
}

bool JsonObjectRewriter::Write(std::span<const FieldEdit> edits, std::string* out) {
  if (WriteByLayout(edits, out)) return true;
  size_t start = SortedMembers(0);
  // When every member is copied as it stands, the output's size is known: write it in place.
  size_t size = 2 + edits.size() + (members_size_ - start);  // braces and commas
  for (const FieldEdit& edit : edits) size += edit.member.size();
  bool in_place = true;
  for (size_t k = start; k < members_size_ && in_place; ++k) {
    const Member& m = members_[k];
    in_place = m.copies;
    size += m.end - m.begin;
  }
  layout_.valid = false;
  if (!in_place) {
    out->clear();
    StringSink sink{out};
    return Merge(start, edits, sink, /*record=*/false);
  }
  out->resize(size + kSlack);
  RawSink sink{out->data(), end_};
  layout_.steps.clear();
  layout_.runs = false;
  Merge(start, edits, sink, /*record=*/true);
  out->resize(static_cast<size_t>(sink.at - out->data()));
  if (LayoutServes(start, edits)) {
    layout_.prefixes.assign(top_members_, 0);
    for (size_t k = start; k < members_size_; ++k) {
      layout_.prefixes[members_[k].index] = members_[k].prefix;
    }
    layout_.edits.resize(edits.size());
    for (size_t e = 0; e < edits.size(); ++e) {
      layout_.edits[e].key = edits[e].key;
      layout_.edits[e].removes = edits[e].member.empty();
    }
    layout_.valid = true;
  }
  return true;
}

}  // namespace drover::bloblang
