// Node selectors (SPEC §2 "Selector grammar"): one Kubernetes label-selector requirement per
// match_expressions element, parsed exactly as Kubernetes' labels.Parse parses one, combined with
// match_labels and match_ids into a NodeSelector; plus an interned fast path (LabelDictionary,
// InternedLabels, CompiledSelector) for matching a fleet of 100,000 nodes. Requirement,
// NodeSelector and CompiledSelector are immutable values, safe to share between threads;
// LabelDictionary is not thread-safe while it is being interned into (see its comment).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/job.h"
#include "api/status.h"

namespace drover {

// The operators of a requirement. `==` parses to kEquals (Kubernetes treats the two alike).
enum class SelectorOperator {
  kEquals,        // k=v, k==v: the key is present with value v
  kNotEquals,     // k!=v: the key is absent, or present with another value
  kIn,            // k in (a,b): the key is present with one of the values
  kNotIn,         // k notin (a,b): the key is absent, or present with none of the values
  kExists,        // k
  kDoesNotExist,  // !k
  kGreaterThan,   // k>N: the key is present and its value is an integer greater than N
  kLessThan,      // k<N: the key is present and its value is an integer less than N
};

// "=", "!=", "in", "notin", "exists", "!", ">", "<".
std::string_view SelectorOperatorName(SelectorOperator op);

// One parsed requirement. `values` is sorted and unique: one value for =, !=, > and <
// (possibly empty: `k=` means the value ""), at least one for in and notin, none otherwise.
struct Requirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kExists;
  std::vector<std::string> values;

  // Kubernetes' Requirement.Matches: != and notin match labels that lack the key; =, in, > and <
  // need it; > and < also need the label's value to be an integer (ParseLabelInteger).
  bool Matches(const Labels& labels) const;

  // The canonical form, as Kubernetes' String() prints it, except that `==` prints as `=`:
  // "env=prod", "env!=prod", "tier in (a,b)", "gpu", "!debug", "n>3". Parses back to itself.
  std::string ToString() const;

  bool operator==(const Requirement&) const = default;
};

// Parses one requirement: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>N`,
// `k<N`. Whitespace (space, tab, CR, LF) may surround every token. Keys and values follow
// LabelKeyError / LabelValueError; N is a base-10 integer. An empty expression, or a second
// requirement after a comma, is an error. Error messages start with the 1-based position of the
// offending character: "char 7: found ')', expected a value", "char 1: key: name part must ...".
Result<Requirement> ParseRequirement(std::string_view text);

// What a job's selector asks of a node: every match_labels entry (an equality), every
// match_expressions requirement, and (when match_ids is not empty) an id from match_ids.
// The empty selector matches every node.
class NodeSelector {
 public:
  // Errors name the failing element ("match_expressions[2]: char 5: ...", "match_labels.env:
  // value: ...", "match_ids[0]: ..."); when several elements fail, all are listed, joined by "; ".
  static Result<NodeSelector> Create(const Labels& match_labels,
                                     const std::vector<std::string>& match_expressions,
                                     const std::vector<std::string>& match_ids);
  static Result<NodeSelector> Create(const Selector& selector);

  bool Matches(std::string_view node_id, const Labels& labels) const {
    return MatchesId(node_id) && MatchesLabels(labels);
  }
  // match_labels and match_expressions only.
  bool MatchesLabels(const Labels& labels) const;
  // match_ids only: true when it is empty or lists `node_id`.
  bool MatchesId(std::string_view node_id) const;

  bool empty() const { return requirements_.empty() && match_ids_.empty(); }
  // match_labels as kEquals requirements in key order, then match_expressions in their order.
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // Sorted, unique.
  const std::vector<std::string>& match_ids() const { return match_ids_; }

 private:
  NodeSelector() = default;

  std::vector<Requirement> requirements_;
  std::vector<std::string> match_ids_;
};

// One node label as dictionary ids.
struct InternedLabel {
  uint32_t key;
  uint32_t value;

  bool operator==(const InternedLabel&) const = default;
};

// A node's label set as (key id, value id) pairs sorted by key id, one pair per key. Built by
// LabelDictionary::Intern; meaningful only with the dictionary that built it. Fewer than eight
// pairs are padded with kNoKey pairs (which sort last) to eight, so matching can look at eight
// slots without branching on where a key sits. Plain value.
class InternedLabels {
 public:
  static constexpr size_t kPaddedSize = 8;
  // The key id of a padding slot. The dictionary never hands it out.
  static constexpr uint32_t kNoKey = UINT32_MAX;

  InternedLabels() : InternedLabels(std::vector<InternedLabel>{}) {}
  // Sorts `labels` by key id. Keys must be unique.
  explicit InternedLabels(std::vector<InternedLabel> labels);

  // The pairs, without padding.
  std::span<const InternedLabel> entries() const;
  size_t size() const { return entries().size(); }

 private:
  friend class CompiledSelector;

  std::vector<InternedLabel> labels_;  // the pairs, then padding up to kPaddedSize
};

// Interns label keys and values to dense uint32 ids (keys and values have separate id spaces,
// each starting at 0), and caches for every value whether it is an integer. Ids never change
// and strings are never forgotten, so selectors compiled earlier stay valid as nodes add new
// strings. Not thread-safe: interning mutates the dictionary, so while any thread may intern,
// every use (including CompiledSelector::Matches, which reads the integer cache) needs external
// synchronisation. Const use from many threads with no interning is safe.
class LabelDictionary {
 public:
  LabelDictionary() = default;
  // Not copyable: CompiledSelector keeps a pointer to its dictionary.
  LabelDictionary(const LabelDictionary&) = delete;
  LabelDictionary& operator=(const LabelDictionary&) = delete;

  uint32_t InternKey(std::string_view key);
  uint32_t InternValue(std::string_view value);
  InternedLabels Intern(const Labels& labels);

  std::optional<uint32_t> FindKey(std::string_view key) const;
  std::optional<uint32_t> FindValue(std::string_view value) const;
  // The string of an id this dictionary handed out.
  std::string_view Key(uint32_t key_id) const { return keys_.strings[key_id]; }
  std::string_view Value(uint32_t value_id) const { return values_.strings[value_id]; }

  // ParseLabelInteger of the value, cached at interning.
  std::optional<int64_t> ValueInteger(uint32_t value_id) const {
    const ValueNumber& number = value_numbers_[value_id];
    if (!number.is_integer) return std::nullopt;
    return number.value;
  }

  size_t key_count() const { return keys_.strings.size(); }
  size_t value_count() const { return values_.strings.size(); }

 private:
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  struct StringTable {
    // A deque keeps every string at its address, so the map's views stay valid.
    std::deque<std::string> strings;
    std::unordered_map<std::string_view, uint32_t, TransparentHash, std::equal_to<>> ids;

    uint32_t Intern(std::string_view text, bool& added);
    std::optional<uint32_t> Find(std::string_view text) const;
  };
  struct ValueNumber {
    int64_t value = 0;
    bool is_integer = false;
  };

  StringTable keys_;
  StringTable values_;
  std::vector<ValueNumber> value_numbers_;  // by value id
};

// A NodeSelector compiled against a LabelDictionary: the same decisions as NodeSelector::Matches
// on interned label sets, without string comparisons. The dictionary must outlive the compiled
// selector; interning new strings later does not invalidate it. Immutable after Compile; see
// LabelDictionary for what concurrent interning requires.
class CompiledSelector {
 public:
  // Interns every key and value the selector mentions, so nodes interned later share the ids.
  static CompiledSelector Compile(const NodeSelector& selector, LabelDictionary& dictionary);

  // match_labels and match_expressions only (ids ignored).
  bool Matches(const InternedLabels& labels) const;
  // match_ids only: true when it is empty or lists `node_id`.
  bool MatchesId(std::string_view node_id) const;
  bool Matches(std::string_view node_id, const InternedLabels& labels) const {
    return MatchesId(node_id) && Matches(labels);
  }

 private:
  // One requirement, with its key and values as ids. Terms are sorted by key id so that
  // Matches walks them and the node's sorted labels together, once.
  struct Term {
    uint32_t key;
    SelectorOperator op;
    uint32_t first_value;  // into value_ids_
    uint32_t value_count;
    int64_t threshold;  // for > and <
  };

  // The value id standing for "the node lacks the key" in TermMatches.
  static constexpr uint32_t kAbsent = UINT32_MAX;

  CompiledSelector() = default;
  bool TermMatches(const Term& term, uint32_t value) const;
  bool ListedInLargeSet(const Term& term, uint32_t value) const;
  bool IntegerMatches(const Term& term, uint32_t value) const;

  const LabelDictionary* dictionary_ = nullptr;
  std::vector<Term> terms_;
  std::vector<uint32_t> value_ids_;     // each term's values, sorted
  std::vector<std::string> match_ids_;  // sorted, unique
};

// A whole Kubernetes selector string as `kubectl -l` and `?labels=` take it: requirements
// separated by commas outside parentheses ("env=prod,tier in (a,b)"). Each part is parsed like a
// match_expressions element; "" is the empty selector. Errors name the part: "part 2: char 5: ...".
Result<NodeSelector> ParseSelectorString(std::string_view text);

}  // namespace drover
