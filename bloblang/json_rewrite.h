// The fast path of `root = this` mappings: a JSON object's text rewritten directly into the bytes
// that decoding it (ParseMessageJson) and encoding the value (AppendJson, message style) would
// give, with some top-level members set or removed, without building the value. Most of the
// text is copied: a scalar, array or object already written the way the encoder writes it
// (compact, keys sorted and unique, strings and numbers in the encoder's form) is copied whole;
// what is not is written again from its parts, through the general decoder and encoder for the
// single string or number concerned. An object with unsorted or repeated keys is written with
// its members sorted (a repeated key keeps its last value, as the decoder does).
//
// Scan accepts only text that ParseMessageJson accepts as an object; anything else (invalid
// JSON, another type at the top, nesting beyond 64 levels, more than 4 GiB) is refused, and the
// caller then takes the general path, which says why or handles it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace drover::bloblang {

// A top-level member to set or remove.
struct FieldEdit {
  std::string_view key;  // the key as decoded
  // `"key":value` as the encoder writes it, followed in memory by at least
  // JsonObjectRewriter::kMemberSlack bytes that may be read; empty: remove the key.
  std::string_view member;
};

// Holds the scan of one text between Scan and Write; reused from message to message, so that a
// rewrite allocates nothing once its buffers have grown. Not thread-safe: one per thread.
class JsonObjectRewriter {
 public:
  // Reads `text`. False when it is not a JSON object that this rewriter handles.
  bool Scan(std::string_view text);

  // After a successful Scan: sets *out to the object of the scanned text with `edits` (sorted
  // by key, keys unique) applied, as AppendJson writes it. False when the value cannot be
  // written (a number beyond a double, which AppendJson refuses as an infinity); `out` is then
  // unspecified.
  bool Write(std::span<const FieldEdit> edits, std::string* out);

  // The bytes readable after each FieldEdit::member (copied 64 at a time).
  static constexpr size_t kMemberSlack = 64;

 private:
  enum class Kind : uint16_t { kObject, kArray, kString, kNumber, kLiteral };
  // Token::flags. Kind and flags are 16-bit so that storing them is not a char store, which
  // could alias any member and make the scan reload them all.
  static constexpr uint16_t kVerbatim = 1;  // the text is exactly what the encoder writes for it
  static constexpr uint16_t kPlain = 2;     // a string whose bytes between the quotes are its own
  static constexpr uint16_t kSorted = 4;    // an object whose keys are strictly increasing
  struct Token {
    uint64_t prefix;  // a key's first 8 bytes as decoded, big-endian, zero-padded
    uint32_t begin;   // the token's text: quotes and brackets included
    uint32_t end;
    uint32_t next;     // the tape index after this token and everything inside it
    uint32_t decoded;  // a key that is not plain: its index in decoded_keys_
    Kind kind;
    uint16_t flags;
  };
  // A key (of a nested object: the top-level object's members say it themselves) whose member
  // is copied as it stands: the key and value verbatim, nothing but ':' between them.
  static constexpr uint16_t kCopies = 8;
  struct Member {
    Member() {}  // left uninitialized when members_ grows
    Member(const Token& key, uint32_t key_index, const Token& value, uint32_t position)
        : prefix(key.prefix),
          key(key_index),
          begin(key.begin),
          end(value.end),
          copies((key.flags & kCopies) != 0 ? 1 : 0),
          index(position) {}
    Member(uint64_t key_prefix, uint32_t key_index, uint32_t text_begin, uint32_t text_end,
           uint32_t copied, uint32_t position)
        : prefix(key_prefix),
          key(key_index),
          begin(text_begin),
          end(text_end),
          copies(copied),
          index(position) {}
    uint64_t prefix;  // of the key: orders most keys without looking further
    uint32_t key;     // tape index; the value's is the next
    uint32_t begin;   // the member's text, from its key to the end of its value
    uint32_t end;
    uint32_t copies;  // 1: the text is written as it stands; 0: not
    uint32_t index;   // its place among its object's members in the text
  };
  // The output of the last top-level object written in place (every member copied as it
  // stands), as steps: runs of members that stand next to each other in the text, and edits. It
  // serves the next object whose keys have the same prefixes in the same order, when all of them
  // differ from each other and from the edits' (so that they alone decide the order), and whose
  // edits are the same: log lines of one source share their keys' order.
  struct Step {
    uint32_t first;  // a run of members, by index in the text; kEditStep: edits[last]
    uint32_t last;
  };
  static constexpr uint32_t kEditStep = ~uint32_t{0};
  struct LayoutEdit {
    std::string key;
    bool removes = false;
  };
  struct Layout {
    bool valid = false;
    bool runs = false;               // some step is a run of more than one member
    std::vector<uint64_t> prefixes;  // of the keys, in text order
    std::vector<LayoutEdit> edits;
    std::vector<Step> steps;
  };

  Token& Add();  // a new token at the end of the tape, filled in by the caller
  void Grow();
  Token& AddScalar(const char* begin, const char* end, Kind kind, uint16_t flags);
  // Each scans what starts at `p` (never whitespace) and returns where it ends, or null when
  // the text is refused.
  // The flags of what was scanned go to *flags.
  const char* ScanValue(const char* p, int depth, uint16_t* flags);
  const char* ScanContainer(const char* p, int depth);
  const char* ScanTop(const char* p);  // the top-level object; its members go to members_

  // The keys of the last text's top-level members, in text order, each as `"key":`: the keys of
  // the next text are compared with them before they are scanned (lines of one source share
  // their keys), which tells where each ends without looking for its closing quote. Only keys
  // that are plain and verbatim, followed by the colon, of up to kMaxPattern bytes.
  struct KeyPattern {
    uint64_t words[4];    // the bytes at 0, 8, 16 and size - 8 (zero-padded)
    uint64_t first_mask;  // the bytes of words[0] that are the pattern's
    uint64_t prefix;      // the key's
    uint32_t size;        // with the quotes and the colon; 0: none
  };
  static constexpr size_t kMaxPattern = 32;
  static constexpr size_t kMaxPatterns = 256;  // more members: no patterns
  bool MatchesKey(const char* p, const KeyPattern& pattern) const;
  // Takes the patterns from the members just scanned, from member `from` on (the ones before
  // matched theirs).
  void KeepKeyPatterns(size_t from);
  const char* ScanScalar(const char* p, Kind kind, uint16_t* flags);
  // Where the scalar of `kind` at `p` ends (null: refused), without a token.
  const char* ScalarEnd(const char* p, Kind kind, uint16_t* flags);
  const char* ScanKey(const char* p, uint16_t* flags, uint64_t* prefix);
  bool DecodeKey(Token& key);  // sets the decoded key of a key that is not plain

  std::string_view KeyOf(const Token& key) const;
  bool KeyLess(uint64_t a_prefix, const Token& a, uint64_t b_prefix, const Token& b) const;
  // Pushes the members of the object at tape index `object` onto members_, sorted by key with
  // repeated keys reduced to their last occurrence; returns where they start (they end at the
  // end of members_, whose size the caller restores to what it was before the call).
  size_t SortedMembers(uint32_t object);
  template <typename Sink>
  bool Merge(size_t start, std::span<const FieldEdit> edits, Sink& sink, bool record);
  // Writes the top-level object by layout_, when it serves; false (nothing written) if not.
  bool WriteByLayout(std::span<const FieldEdit> edits, std::string* out);
  // Whether layout_, just recorded by Merge, may serve later objects.
  bool LayoutServes(size_t start, std::span<const FieldEdit> edits) const;
  bool WriteValue(uint32_t index, std::string* out);
  bool WriteMember(const Member& m, std::string* out);
  bool WriteScalar(const Token& t, std::string* out);

  const char* base_ = nullptr;  // the text
  const char* end_ = nullptr;
  std::vector<Token> tape_;  // the first count_ are this text's
  uint32_t count_ = 0;
  std::vector<Member> members_;  // the first members_size_ are in use
  size_t members_size_ = 0;
  void GrowMembers(size_t size);  // to at least `size`
  size_t top_members_ = 0;        // the top-level object's members, at the start of members_
  bool adjacent_ = true;  // each top-level member right after the comma ending the one before
  Layout layout_;
  std::vector<KeyPattern> patterns_;
  std::vector<std::string> decoded_keys_;
  size_t decoded_count_ = 0;
};

}  // namespace drover::bloblang
