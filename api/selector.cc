#include "api/selector.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "api/labels.h"

namespace drover {
namespace {

// ---- Lexer: Kubernetes' labels lexer. Identifiers are runs of characters that are neither
// whitespace nor special; "in" and "notin" are keywords; "!=" and "==" are the only two-character
// symbols. It never fails, so the whole text is scanned up front, as Kubernetes does.

enum class TokenKind {
  kEnd,
  kIdentifier,
  kIn,
  kNotIn,
  kEquals,
  kDoubleEquals,
  kNotEquals,
  kBang,
  kGreater,
  kLess,
  kOpenParen,
  kCloseParen,
  kComma,
};

struct Token {
  TokenKind kind;
  std::string_view text;
  size_t position;  // 1-based
};

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsSpecial(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

TokenKind SymbolKind(std::string_view symbol) {
  if (symbol == "!=") return TokenKind::kNotEquals;
  if (symbol == "==") return TokenKind::kDoubleEquals;
  switch (symbol.front()) {
    case '=':
      return TokenKind::kEquals;
    case '!':
      return TokenKind::kBang;
    case '(':
      return TokenKind::kOpenParen;
    case ')':
      return TokenKind::kCloseParen;
    case ',':
      return TokenKind::kComma;
    case '>':
      return TokenKind::kGreater;
    default:
      return TokenKind::kLess;
  }
}

std::vector<Token> Scan(std::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsWhitespace(text[i])) ++i;
    if (i == text.size()) break;
    const size_t start = i;
    if (IsSpecial(text[i])) {
      const bool pair =
          i + 1 < text.size() && text[i + 1] == '=' && (text[i] == '!' || text[i] == '=');
      i += pair ? 2 : 1;
      const std::string_view symbol = text.substr(start, i - start);
      tokens.push_back({SymbolKind(symbol), symbol, start + 1});
      continue;
    }
    while (i < text.size() && !IsWhitespace(text[i]) && !IsSpecial(text[i])) ++i;
    const std::string_view word = text.substr(start, i - start);
    TokenKind kind = TokenKind::kIdentifier;
    if (word == "in") kind = TokenKind::kIn;
    if (word == "notin") kind = TokenKind::kNotIn;
    tokens.push_back({kind, word, start + 1});
  }
  tokens.push_back({TokenKind::kEnd, {}, text.size() + 1});
  return tokens;
}

// How a token reads in an error message.
std::string Describe(const Token& token) {
  if (token.kind == TokenKind::kEnd) return "end of expression";
  constexpr size_t kMaxShown = 40;
  if (token.text.size() > kMaxShown)
    return "'" + std::string(token.text.substr(0, kMaxShown)) + "...'";
  return "'" + std::string(token.text) + "'";
}

Status ErrorAt(size_t position, std::string_view message) {
  return InvalidError("char " + std::to_string(position) + ": " + std::string(message));
}

Status Unexpected(const Token& token, std::string_view expected) {
  return ErrorAt(token.position,
                 "found " + Describe(token) + ", expected " + std::string(expected));
}

// ---- Parser: Kubernetes' recursive descent, for one requirement. As in Kubernetes, "in" and
// "notin" read as identifiers everywhere except where an operator is expected, so `in`,
// `notin=in` and `k in (in)` are all valid.

class Parser {
 public:
  explicit Parser(std::string_view text) : tokens_(Scan(text)) {}

  Result<Requirement> Parse();

 private:
  struct Value {
    std::string_view text;
    size_t position;
  };

  // The next token, with "in" and "notin" read as identifiers (Kubernetes' "Values" context).
  Token Peek() const { return AsValue(tokens_[next_]); }
  Token Next() { return AsValue(tokens_[next_++]); }
  // The next token as it is, keywords included (Kubernetes' "KeyAndOperator" context).
  Token NextRaw() { return tokens_[next_++]; }

  static Token AsValue(Token token) {
    if (token.kind == TokenKind::kIn || token.kind == TokenKind::kNotIn) {
      token.kind = TokenKind::kIdentifier;
    }
    return token;
  }

  Result<SelectorOperator> ParseOperator();
  Status ParseValueSet(std::vector<Value>& values);
  Status ParseExactValue(std::vector<Value>& values);

  std::vector<Token> tokens_;
  size_t next_ = 0;
};

Result<Requirement> Parser::Parse() {
  const Token first = Peek();
  if (first.kind == TokenKind::kEnd) {
    return ErrorAt(first.position, "empty expression, expected a requirement such as 'env=prod'");
  }
  if (first.kind != TokenKind::kIdentifier && first.kind != TokenKind::kBang) {
    return Unexpected(first, "a key or '!'");
  }

  Requirement requirement;
  bool negated = false;
  Token key = Next();
  if (key.kind == TokenKind::kBang) {
    negated = true;
    key = Next();
  }
  if (key.kind != TokenKind::kIdentifier) return Unexpected(key, "a key");
  if (auto error = LabelKeyError(key.text)) return ErrorAt(key.position, "key: " + *error);
  requirement.key = std::string(key.text);

  std::vector<Value> values;
  const TokenKind after_key = Peek().kind;
  if (after_key == TokenKind::kEnd || after_key == TokenKind::kComma) {
    requirement.op = negated ? SelectorOperator::kDoesNotExist : SelectorOperator::kExists;
  } else if (negated) {
    return Unexpected(Peek(), "end of expression ('!key' takes no operator or value)");
  } else {
    Result<SelectorOperator> op = ParseOperator();
    if (!op.ok()) return op.status();
    requirement.op = *op;
    const bool is_set = *op == SelectorOperator::kIn || *op == SelectorOperator::kNotIn;
    if (Status status = is_set ? ParseValueSet(values) : ParseExactValue(values); !status.ok()) {
      return status;
    }
  }

  // Values are checked once the requirement is read, as Kubernetes' NewRequirement does.
  if (requirement.op == SelectorOperator::kGreaterThan ||
      requirement.op == SelectorOperator::kLessThan) {
    if (!ParseLabelInteger(values.front().text)) {
      return ErrorAt(values.front().position,
                     "value: '" + std::string(SelectorOperatorName(requirement.op)) +
                         "' needs an integer (got '" + std::string(values.front().text) + "')");
    }
  }
  for (const Value& value : values) {
    if (auto error = LabelValueError(value.text))
      return ErrorAt(value.position, "value: " + *error);
    requirement.values.emplace_back(value.text);
  }
  std::sort(requirement.values.begin(), requirement.values.end());
  requirement.values.erase(std::unique(requirement.values.begin(), requirement.values.end()),
                           requirement.values.end());

  const Token rest = Next();
  if (rest.kind == TokenKind::kComma) {
    return ErrorAt(rest.position,
                   "found ',': an expression holds one requirement; put each requirement in its "
                   "own match_expressions element");
  }
  if (rest.kind != TokenKind::kEnd) return Unexpected(rest, "end of expression");
  return requirement;
}

Result<SelectorOperator> Parser::ParseOperator() {
  const Token token = NextRaw();
  switch (token.kind) {
    case TokenKind::kEquals:
    case TokenKind::kDoubleEquals:
      return SelectorOperator::kEquals;
    case TokenKind::kNotEquals:
      return SelectorOperator::kNotEquals;
    case TokenKind::kIn:
      return SelectorOperator::kIn;
    case TokenKind::kNotIn:
      return SelectorOperator::kNotIn;
    case TokenKind::kGreater:
      return SelectorOperator::kGreaterThan;
    case TokenKind::kLess:
      return SelectorOperator::kLessThan;
    default:
      return Unexpected(token, "an operator: =, ==, !=, in, notin, > or <");
  }
}

// "(" values ")", where values are comma-separated and each may be empty, as in Kubernetes:
// "(a,,b)" is {"", "a", "b"}, and "()" is {""}, the one empty value.
Status Parser::ParseValueSet(std::vector<Value>& values) {
  const Token open = Next();
  if (open.kind != TokenKind::kOpenParen) return Unexpected(open, "'(' after 'in' or 'notin'");
  Token token = Peek();
  if (token.kind == TokenKind::kCloseParen) {
    values.push_back({"", token.position});
    ++next_;
    return Status::Ok();
  }
  if (token.kind != TokenKind::kIdentifier && token.kind != TokenKind::kComma) {
    return Unexpected(token, "a value, ',' or ')'");
  }
  // Elements separated by commas; an element with no identifier is the empty value.
  while (true) {
    token = Peek();
    if (token.kind == TokenKind::kIdentifier) {
      values.push_back({token.text, token.position});
      ++next_;
      token = Peek();
    } else if (token.kind == TokenKind::kComma || token.kind == TokenKind::kCloseParen) {
      values.push_back({"", token.position});
    } else {
      return Unexpected(token, "a value, ',' or ')'");
    }
    if (token.kind == TokenKind::kCloseParen) {
      ++next_;
      return Status::Ok();
    }
    if (token.kind != TokenKind::kComma) return Unexpected(token, "',' or ')'");
    ++next_;
  }
}

// One value after =, ==, !=, > or <; nothing (the end or a comma) is the empty value.
Status Parser::ParseExactValue(std::vector<Value>& values) {
  const Token token = Peek();
  if (token.kind == TokenKind::kEnd || token.kind == TokenKind::kComma) {
    values.push_back({"", token.position});
    return Status::Ok();
  }
  ++next_;
  if (token.kind != TokenKind::kIdentifier) return Unexpected(token, "a value");
  values.push_back({token.text, token.position});
  return Status::Ok();
}

bool HasValue(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

std::string_view SelectorOperatorName(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::kEquals:
      return "=";
    case SelectorOperator::kNotEquals:
      return "!=";
    case SelectorOperator::kIn:
      return "in";
    case SelectorOperator::kNotIn:
      return "notin";
    case SelectorOperator::kExists:
      return "exists";
    case SelectorOperator::kDoesNotExist:
      return "!";
    case SelectorOperator::kGreaterThan:
      return ">";
    case SelectorOperator::kLessThan:
      return "<";
  }
  return "?";
}

Result<Requirement> ParseRequirement(std::string_view text) { return Parser(text).Parse(); }

// ---- Requirement

bool Requirement::Matches(const Labels& labels) const {
  const auto found = labels.find(key);
  const bool present = found != labels.end();
  switch (op) {
    case SelectorOperator::kEquals:
    case SelectorOperator::kIn:
      return present && HasValue(values, found->second);
    case SelectorOperator::kNotEquals:
    case SelectorOperator::kNotIn:
      return !present || !HasValue(values, found->second);
    case SelectorOperator::kExists:
      return present;
    case SelectorOperator::kDoesNotExist:
      return !present;
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan: {
      if (!present || values.size() != 1) return false;
      const std::optional<int64_t> actual = ParseLabelInteger(found->second);
      const std::optional<int64_t> bound = ParseLabelInteger(values.front());
      if (!actual || !bound) return false;
      return op == SelectorOperator::kGreaterThan ? *actual > *bound : *actual < *bound;
    }
  }
  return false;
}

std::string Requirement::ToString() const {
  switch (op) {
    case SelectorOperator::kExists:
      return key;
    case SelectorOperator::kDoesNotExist:
      return "!" + key;
    default:
      break;
  }
  std::vector<std::string> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::string joined;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) joined += ',';
    joined += sorted[i];
  }
  switch (op) {
    case SelectorOperator::kIn:
      return key + " in (" + joined + ")";
    case SelectorOperator::kNotIn:
      return key + " notin (" + joined + ")";
    default:
      return key + std::string(SelectorOperatorName(op)) + joined;
  }
}

// ---- NodeSelector

Result<NodeSelector> NodeSelector::Create(const Labels& match_labels,
                                          const std::vector<std::string>& match_expressions,
                                          const std::vector<std::string>& match_ids) {
  NodeSelector selector;
  std::string errors;
  auto add_error = [&errors](const std::string& path, std::string_view message) {
    if (!errors.empty()) errors += "; ";
    errors += path + ": " + std::string(message);
  };

  for (const auto& [key, value] : match_labels) {
    const std::string path = "match_labels." + key;
    if (auto error = LabelKeyError(key)) add_error(path, "key: " + *error);
    if (auto error = LabelValueError(value)) add_error(path, "value: " + *error);
    selector.requirements_.push_back({key, SelectorOperator::kEquals, {value}});
  }
  for (size_t i = 0; i < match_expressions.size(); ++i) {
    Result<Requirement> requirement = ParseRequirement(match_expressions[i]);
    if (requirement.ok()) {
      selector.requirements_.push_back(std::move(requirement).value());
    } else {
      add_error("match_expressions[" + std::to_string(i) + "]", requirement.status().message());
    }
  }
  for (size_t i = 0; i < match_ids.size(); ++i) {
    if (auto error = NodeIdError(match_ids[i])) {
      add_error("match_ids[" + std::to_string(i) + "]", *error);
    }
  }
  if (!errors.empty()) return InvalidError(std::move(errors));

  selector.match_ids_ = match_ids;
  std::sort(selector.match_ids_.begin(), selector.match_ids_.end());
  selector.match_ids_.erase(std::unique(selector.match_ids_.begin(), selector.match_ids_.end()),
                            selector.match_ids_.end());
  return selector;
}

Result<NodeSelector> NodeSelector::Create(const Selector& selector) {
  return Create(selector.match_labels, selector.match_expressions, selector.match_ids);
}

bool NodeSelector::MatchesLabels(const Labels& labels) const {
  for (const Requirement& requirement : requirements_) {
    if (!requirement.Matches(labels)) return false;
  }
  return true;
}

bool NodeSelector::MatchesId(std::string_view node_id) const {
  return match_ids_.empty() ||
         std::binary_search(match_ids_.begin(), match_ids_.end(), node_id, std::less<>());
}

// ---- InternedLabels and LabelDictionary

InternedLabels::InternedLabels(std::vector<InternedLabel> labels) : labels_(std::move(labels)) {
  std::sort(labels_.begin(), labels_.end(),
            [](const InternedLabel& a, const InternedLabel& b) { return a.key < b.key; });
  if (labels_.size() < kPaddedSize) labels_.resize(kPaddedSize, InternedLabel{kNoKey, 0});
}

std::span<const InternedLabel> InternedLabels::entries() const {
  size_t size = labels_.size();
  while (size > 0 && labels_[size - 1].key == kNoKey) --size;
  return {labels_.data(), size};
}

uint32_t LabelDictionary::StringTable::Intern(std::string_view text, bool& added) {
  if (const auto found = ids.find(text); found != ids.end()) {
    added = false;
    return found->second;
  }
  // UINT32_MAX is reserved (InternedLabels::kNoKey, CompiledSelector's "absent").
  assert(strings.size() < UINT32_MAX && "label dictionary full");
  const auto id = static_cast<uint32_t>(strings.size());
  strings.emplace_back(text);
  ids.emplace(strings.back(), id);
  added = true;
  return id;
}

std::optional<uint32_t> LabelDictionary::StringTable::Find(std::string_view text) const {
  if (const auto found = ids.find(text); found != ids.end()) return found->second;
  return std::nullopt;
}

uint32_t LabelDictionary::InternKey(std::string_view key) {
  bool added = false;
  return keys_.Intern(key, added);
}

uint32_t LabelDictionary::InternValue(std::string_view value) {
  bool added = false;
  const uint32_t id = values_.Intern(value, added);
  if (added) {
    const std::optional<int64_t> number = ParseLabelInteger(value);
    value_numbers_.push_back({number.value_or(0), number.has_value()});
  }
  return id;
}

InternedLabels LabelDictionary::Intern(const Labels& labels) {
  std::vector<InternedLabel> interned;
  interned.reserve(labels.size());
  for (const auto& [key, value] : labels) interned.push_back({InternKey(key), InternValue(value)});
  return InternedLabels(std::move(interned));
}

std::optional<uint32_t> LabelDictionary::FindKey(std::string_view key) const {
  return keys_.Find(key);
}

std::optional<uint32_t> LabelDictionary::FindValue(std::string_view value) const {
  return values_.Find(value);
}

// ---- CompiledSelector

CompiledSelector CompiledSelector::Compile(const NodeSelector& selector,
                                           LabelDictionary& dictionary) {
  CompiledSelector compiled;
  compiled.dictionary_ = &dictionary;
  compiled.match_ids_ = selector.match_ids();
  for (const Requirement& requirement : selector.requirements()) {
    Term term{dictionary.InternKey(requirement.key), requirement.op,
              static_cast<uint32_t>(compiled.value_ids_.size()), 0, 0};
    if (term.op == SelectorOperator::kGreaterThan || term.op == SelectorOperator::kLessThan) {
      const std::optional<int64_t> bound = requirement.values.size() == 1
                                               ? ParseLabelInteger(requirement.values.front())
                                               : std::nullopt;
      // Kubernetes: a bound that is not one integer matches nothing, like an empty 'in'.
      if (bound) {
        term.threshold = *bound;
      } else {
        term.op = SelectorOperator::kIn;
      }
    } else {
      for (const std::string& value : requirement.values) {
        compiled.value_ids_.push_back(dictionary.InternValue(value));
      }
      term.value_count = static_cast<uint32_t>(compiled.value_ids_.size()) - term.first_value;
      std::sort(compiled.value_ids_.begin() + term.first_value, compiled.value_ids_.end());
    }
    compiled.terms_.push_back(term);
  }
  std::stable_sort(compiled.terms_.begin(), compiled.terms_.end(),
                   [](const Term& a, const Term& b) { return a.key < b.key; });
  return compiled;
}

// kAbsent is no value id, so "listed" already implies "present" for =, in, != and notin.
inline bool CompiledSelector::TermMatches(const Term& term, uint32_t value) const {
  bool listed = false;
  const uint32_t* first = value_ids_.data() + term.first_value;
  if (term.value_count <= 8) [[likely]] {
    for (uint32_t i = 0; i < term.value_count; ++i) listed |= first[i] == value;
  } else {
    listed = ListedInLargeSet(term, value);
  }
  switch (term.op) {
    case SelectorOperator::kEquals:
    case SelectorOperator::kIn:
      return listed;
    case SelectorOperator::kNotEquals:
    case SelectorOperator::kNotIn:
      return !listed;
    case SelectorOperator::kExists:
      return value != kAbsent;
    case SelectorOperator::kDoesNotExist:
      return value == kAbsent;
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan:
      return IntegerMatches(term, value);
  }
  return false;
}

bool CompiledSelector::ListedInLargeSet(const Term& term, uint32_t value) const {
  const uint32_t* first = value_ids_.data() + term.first_value;
  return std::binary_search(first, first + term.value_count, value);
}

bool CompiledSelector::IntegerMatches(const Term& term, uint32_t value) const {
  if (value == kAbsent) return false;
  const std::optional<int64_t> actual = dictionary_->ValueInteger(value);
  if (!actual) return false;
  return term.op == SelectorOperator::kGreaterThan ? *actual > term.threshold
                                                   : *actual < term.threshold;
}

bool CompiledSelector::Matches(const InternedLabels& labels) const {
  const InternedLabel* const slots = labels.labels_.data();
  // Exactly eight slots: at most eight labels, padded. Otherwise more than eight, unpadded (or
  // none at all, in a moved-from set), and both lists being sorted by key id, one forward walk
  // finds every term's label.
  const bool padded = labels.labels_.size() == InternedLabels::kPaddedSize;
  const InternedLabel* cursor = slots;
  const InternedLabel* const end = slots + labels.labels_.size();
  for (const Term& term : terms_) {
    uint32_t value = kAbsent;
    if (padded) {
      // A branch-free binary search over the eight slots (padding holds kNoKey, which sorts
      // last and no term has): cheaper than a search whose exit the CPU cannot predict.
      const InternedLabel* slot = slots;
      slot += slot[4].key <= term.key ? 4 : 0;
      slot += slot[2].key <= term.key ? 2 : 0;
      slot += slot[1].key <= term.key ? 1 : 0;
      // kAbsent is all ones: OR-ing in the inverted match mask is a select without a branch.
      const uint32_t match_mask = 0u - static_cast<uint32_t>(slot->key == term.key);
      value = slot->value | ~match_mask;
    } else {
      while (cursor != end && cursor->key < term.key) ++cursor;
      if (cursor != end && cursor->key == term.key) value = cursor->value;
    }
    if (!TermMatches(term, value)) return false;
  }
  return true;
}

bool CompiledSelector::MatchesId(std::string_view node_id) const {
  return match_ids_.empty() ||
         std::binary_search(match_ids_.begin(), match_ids_.end(), node_id, std::less<>());
}

Result<NodeSelector> ParseSelectorString(std::string_view text) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  bool blank = text.find_first_not_of(" \t") == std::string_view::npos;
  if (blank) return NodeSelector::Create(Labels{}, {}, {});
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] == '(') ++depth;
    if (i < text.size() && text[i] == ')') depth = depth > 0 ? depth - 1 : 0;
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      parts.emplace_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  std::vector<Requirement> requirements;
  for (size_t i = 0; i < parts.size(); ++i) {
    Result<Requirement> r = ParseRequirement(parts[i]);
    if (!r.ok()) {
      return InvalidError("part " + std::to_string(i + 1) + " (\"" + parts[i] +
                          "\"): " + r.status().message());
    }
  }
  return NodeSelector::Create(Labels{}, parts, {});
}

}  // namespace drover
