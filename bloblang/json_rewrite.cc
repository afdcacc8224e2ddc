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
template <uint8_t kVerbatim, uint8_t kPlain>
[[gnu::noinline]] const char* ScanStringRest(const char* p, const char* end, uint8_t* flags) {
  uint8_t f = kVerbatim | kPlain;
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
        if (cp == 0x2028 || cp == 0x2029) f &= static_cast<uint8_t>(~kVerbatim);  // escaped
        p += len;
      }
    } else {
      // A backslash.
      f &= static_cast<uint8_t>(~kPlain);
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
template <uint8_t kVerbatim, uint8_t kPlain>
inline const char* ScanString(const char* p, const char* base, const char* end, uint8_t* flags) {
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

// Past the ASCII digits at `p`.
inline const char* SkipDigits(const char* p, const char* end) {
  // Eight bytes at a time: a byte b is a digit when b & 0xF0 and (b + 6) & 0xF0 are both 0x30.
  // A carry out of a byte (from b >= 0xFA, no digit) only reaches the bytes after it in memory
  // on a little-endian machine.
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      uint64_t v = 0;
      std::memcpy(&v, p, 8);
      uint64_t high = v & 0xF0F0F0F0F0F0F0F0ULL;
      uint64_t shifted = ((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4;
      uint64_t other = (high | shifted) ^ 0x3333333333333333ULL;  // 0 in the digits' bytes
      if (other != 0) return p + __builtin_ctzll(other) / 8;
      p += 8;
    }
  }
  while (p < end && IsDigit(*p)) ++p;
  return p;
}

// The rest of a number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, as the decoder reads
// it), or null. *verbatim: whether the encoder prints it as written. An integer of up to 18
// digits is an int64 or uint64 that does, but for "-0" (which prints "0"); floats, and longer
// integers, are printed again.
const char* ScanNumber(const char* p, const char* end, bool* verbatim) {
  bool negative = *p == '-';
  if (negative) ++p;
  if (p >= end || !IsDigit(*p)) return nullptr;
  const char* digits = p;
  if (*p == '0') {
    ++p;
  } else {
    p = SkipDigits(p, end);
  }
  bool integer = true;
  size_t count = static_cast<size_t>(p - digits);
  if (p < end && *p == '.') {
    integer = false;
    ++p;
    if (p >= end || !IsDigit(*p)) return nullptr;
    p = SkipDigits(p, end);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integer = false;
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (p >= end || !IsDigit(*p)) return nullptr;
    while (p < end && IsDigit(*p)) ++p;
  }
  *verbatim = integer && count <= 18 && !(negative && *digits == '0');
  return p;
}

// Writes into a buffer known to be large enough.
struct RawSink {
  char* at;
  void Bytes(const char* p, size_t n) {
    std::memcpy(at, p, n);
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

void JsonObjectRewriter::Grow() { tape_.resize(std::max<size_t>(64, tape_.size() * 2)); }

inline JsonObjectRewriter::Token& JsonObjectRewriter::Add() {
  if (count_ == tape_.size()) [[unlikely]] {
    Grow();
  }
  return tape_[count_++];
}

inline JsonObjectRewriter::Token& JsonObjectRewriter::AddScalar(const char* begin, const char* end,
                                                                Kind kind, uint8_t flags) {
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
  if (text.size() >= std::numeric_limits<uint32_t>::max()) return false;
  // A very large text's tape is not kept for the small ones that follow.
  if (tape_.size() > (1u << 16)) std::vector<Token>().swap(tape_);
  base_ = text.data();
  end_ = base_ + text.size();
  bool compact = true;
  const char* p = SkipSpace(base_, end_, &compact);
  if (p >= end_ || *p != '{') return false;
  p = ScanContainer(p, 1);
  if (p == nullptr) return false;
  p = SkipSpace(p, end_, &compact);
  return p == end_;  // Bento's decoder refuses anything after the document but space
}

inline const char* JsonObjectRewriter::ScanValue(const char* p, int depth, uint8_t* flags) {
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

inline const char* JsonObjectRewriter::ScanScalar(const char* p, Kind kind, uint8_t* flags_out) {
  const char* end = nullptr;
  uint8_t flags = 0;
  switch (kind) {
    case Kind::kString:
      end = ScanString<kVerbatim, kPlain>(p + 1, base_, end_, &flags);
      break;
    case Kind::kNumber: {
      bool verbatim = false;
      end = ScanNumber(p, end_, &verbatim);
      flags = verbatim ? kVerbatim : 0;
      break;
    }
    default: {
      std::string_view word = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
      if (static_cast<size_t>(end_ - p) < word.size() || std::memcmp(p, word.data(), word.size())) {
        return nullptr;
      }
      end = p + word.size();
      flags = kVerbatim;
      break;
    }
  }
  if (end == nullptr) return nullptr;
  AddScalar(p, end, kind, flags);
  *flags_out = flags;
  return end;
}

inline const char* JsonObjectRewriter::ScanKey(const char* p, uint8_t* flags_out,
                                               uint64_t* prefix) {
  if (p >= end_ || *p != '"') return nullptr;
  uint8_t flags = 0;
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
      if (object) {
        uint32_t key = count_;
        uint8_t key_flags = 0;
        uint64_t prefix = 0;
        p = ScanKey(p, &key_flags, &prefix);
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
      uint8_t value_flags = 0;
      p = ScanValue(p, depth, &value_flags);
      if (p == nullptr) return nullptr;
      verbatim = verbatim && (value_flags & kVerbatim);
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
  t.flags = static_cast<uint8_t>((compact && verbatim && sorted ? kVerbatim : 0) |
                                 (sorted ? kSorted : 0));
  return p;
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
  const uint32_t next = tape_[object].next;
  const bool sorted = tape_[object].flags & kSorted;
  size_t start = members_.size();
  for (uint32_t j = object + 1; j < next; j = tape_[j + 1].next) {
    members_.push_back(Member{tape_[j].prefix, j, j + 1});
  }
  if (sorted) return start;
  auto less = [this](const Member& a, const Member& b) {
    return KeyLess(a.prefix, tape_[a.key], b.prefix, tape_[b.key]);
  };
  auto begin = members_.begin() + static_cast<ptrdiff_t>(start);
  if (members_.size() - start <= 16) {
    for (auto it = begin + 1; it < members_.end(); ++it) {  // insertion sort: stable
      Member m = *it;
      auto hole = it;
      while (hole > begin && less(m, *(hole - 1))) {
        *hole = *(hole - 1);
        --hole;
      }
      *hole = m;
    }
  } else {
    std::stable_sort(begin, members_.end(), less);
  }
  // A repeated key keeps its last value: of equal keys, now adjacent in input order, keep the
  // last.
  size_t kept = start;
  for (size_t k = start; k < members_.size(); ++k) {
    if (k + 1 < members_.size() && !less(members_[k], members_[k + 1])) continue;
    members_[kept++] = members_[k];
  }
  members_.resize(kept);
  return start;
}

bool JsonObjectRewriter::CopiesAsItStands(const Member& m) const {
  const Token& key = tape_[m.key];
  const Token& value = tape_[m.value];
  return (key.flags & value.flags & kVerbatim) && value.begin == key.end + 1;
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
  if (CopiesAsItStands(m)) {
    const uint32_t begin = tape_[m.key].begin;
    out->append(base_ + begin, tape_[m.value].end - begin);  // "key":value as it stands
    return true;
  }
  const Token& key = tape_[m.key];
  if (key.flags & kVerbatim) {
    out->append(base_ + key.begin, key.end - key.begin);
  } else {
    AppendJsonString(KeyOf(key), /*escape_html=*/false, out);
  }
  out->push_back(':');
  return WriteValue(m.value, out);
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
      size_t start = SortedMembers(index);
      size_t end = members_.size();
      out->push_back('{');
      for (size_t k = start; k < end; ++k) {
        if (k != start) out->push_back(',');
        Member m = members_[k];  // a copy: writing it may grow members_
        if (!WriteMember(m, out)) return false;
      }
      out->push_back('}');
      members_.resize(start);
      return true;
    }
    default:
      return WriteScalar(t, out);
  }
}

// The top-level members from members_[start] on, merged with the edits in key order.
template <typename Sink>
bool JsonObjectRewriter::Merge(size_t start, std::span<const FieldEdit> edits, Sink& sink) {
  sink.Char('{');
  bool first = true;
  size_t k = start;
  const size_t end = members_.size();
  size_t e = 0;
  uint64_t edit_prefix = e < edits.size() ? PrefixOf(edits[e].key) : 0;
  while (k < end || e < edits.size()) {
    int order = 0;
    if (k == end) {
      order = 1;
    } else if (e == edits.size()) {
      order = -1;
    } else if (members_[k].prefix != edit_prefix) {
      order = members_[k].prefix < edit_prefix ? -1 : 1;
    } else {
      order = KeyOf(tape_[members_[k].key]).compare(edits[e].key);
    }
    if (order < 0) {
      if (!first) sink.Char(',');
      first = false;
      Member m = members_[k++];
      if constexpr (std::is_same_v<Sink, RawSink>) {
        const uint32_t begin = tape_[m.key].begin;
        sink.Bytes(base_ + begin, tape_[m.value].end - begin);
      } else {
        if (!WriteMember(m, sink.out)) return false;
      }
      continue;
    }
    if (order == 0) ++k;  // the edit replaces or removes the member
    if (!edits[e].member.empty()) {
      if (!first) sink.Char(',');
      first = false;
      sink.Bytes(edits[e].member.data(), edits[e].member.size());
    }
    ++e;
    if (e < edits.size()) edit_prefix = PrefixOf(edits[e].key);
  }
  sink.Char('}');
  return true;
}

bool JsonObjectRewriter::Write(std::span<const FieldEdit> edits, std::string* out) {
  members_.clear();
  size_t start = SortedMembers(0);
  // When every member is copied as it stands, the output's size is known: write it in place.
  size_t size = 2 + edits.size() + (members_.size() - start);  // braces and commas
  for (const FieldEdit& edit : edits) size += edit.member.size();
  bool in_place = true;
  for (size_t k = start; k < members_.size() && in_place; ++k) {
    const Member& m = members_[k];
    in_place = CopiesAsItStands(m);
    size += tape_[m.value].end - tape_[m.key].begin;
  }
  if (!in_place) {
    StringSink sink{out};
    return Merge(start, edits, sink);
  }
  size_t old_size = out->size();
  out->resize(old_size + size);
  RawSink sink{out->data() + old_size};
  Merge(start, edits, sink);
  out->resize(static_cast<size_t>(sink.at - out->data()));
  return true;
}

}  // namespace drover::bloblang
