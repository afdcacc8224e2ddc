#include "api/text_diff.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace drover {
namespace {

using Index = std::ptrdiff_t;

// Steps (diagonals visited, lines compared, lines slid) one diff may take before it gives up on a
// minimal script and shows the differing middle as one replacement. Tens of milliseconds.
constexpr int64_t kMaxSteps = 50'000'000;

// Splits `text` after each '\n'. Every line keeps its '\n'; only the last one may lack it.
std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t newline = text.find('\n', begin);
    size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    lines.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  return lines;
}

// Numbers the lines of both texts so that two lines get the same id exactly when they are equal
// (newline included). Sorting, rather than hashing, keeps the cost O(bytes * log lines) whatever
// the input.
void AssignIds(const std::vector<std::string_view>& old_lines,
               const std::vector<std::string_view>& new_lines, std::vector<Index>* old_ids,
               std::vector<Index>* new_ids) {
  const size_t old_count = old_lines.size();
  const size_t total = old_count + new_lines.size();
  auto line = [&](size_t i) { return i < old_count ? old_lines[i] : new_lines[i - old_count]; };
  std::vector<size_t> order(total);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t l, size_t r) { return line(l) < line(r); });
  old_ids->assign(old_count, 0);
  new_ids->assign(new_lines.size(), 0);
  Index id = 0;
  for (size_t rank = 0; rank < total; ++rank) {
    if (rank > 0 && line(order[rank]) != line(order[rank - 1])) ++id;
    size_t i = order[rank];
    if (i < old_count) {
      (*old_ids)[i] = id;
    } else {
      (*new_ids)[i - old_count] = id;
    }
  }
}

// Myers' O(ND) difference algorithm in its linear-space form: find the middle of an optimal edit
// path by searching from both corners at once, then solve the two halves. Marks deleted old lines
// and inserted new lines. Gives up (returns false) when the distance exceeds `max_edits` or the
// step budget runs out.
class EditSearch {
 public:
  EditSearch(const std::vector<Index>& old_ids, const std::vector<Index>& new_ids, Index max_edits,
             int64_t* steps_left, std::vector<char>* old_changed, std::vector<char>* new_changed)
      : a_(old_ids),
        b_(new_ids),
        max_edits_(max_edits),
        max_half_distance_(std::max<Index>(0, (max_edits + 1) / 2)),
        steps_left_(steps_left),
        a_changed_(old_changed),
        b_changed_(new_changed) {}

  bool Run(Index a_lo, Index a_hi, Index b_lo, Index b_hi) {
    return Compare(a_lo, a_hi, b_lo, b_hi, /*top=*/true);
  }

 private:
  bool Step(int64_t count = 1) {
    *steps_left_ -= count;
    return *steps_left_ >= 0;
  }

  bool Compare(Index a_lo, Index a_hi, Index b_lo, Index b_hi, bool top) {
    while (a_lo < a_hi && b_lo < b_hi && a_[a_lo] == b_[b_lo]) ++a_lo, ++b_lo;
    while (a_lo < a_hi && b_lo < b_hi && a_[a_hi - 1] == b_[b_hi - 1]) --a_hi, --b_hi;
    if (!Step((a_hi - a_lo) + (b_hi - b_lo) + 1)) return false;
    if (a_lo == a_hi || b_lo == b_hi) {
      std::fill(b_changed_->begin() + b_lo, b_changed_->begin() + b_hi, 1);
      std::fill(a_changed_->begin() + a_lo, a_changed_->begin() + a_hi, 1);
      return true;
    }
    Index x_mid = 0, y_mid = 0, distance = 0;
    if (!FindMidpoint(a_lo, a_hi, b_lo, b_hi, &x_mid, &y_mid, &distance)) return false;
    if (top && distance > max_edits_) return false;
    // After trimming, both halves cost at least one edit and strictly less than `distance`.
    return Compare(a_lo, x_mid, b_lo, y_mid, false) && Compare(x_mid, a_hi, y_mid, b_hi, false);
  }

  // Finds a point (x_mid, y_mid) on a minimal edit path from (a_lo, b_lo) to (a_hi, b_hi), and
  // the path's length. Diagonal k holds the points with (x - a_lo) - (y - b_lo) == k. forward_
  // keeps, per diagonal, the furthest x reached from the start with d edits (-1: not reached);
  // backward_ the smallest x reached from the end (n + 1: not reached).
  bool FindMidpoint(Index a_lo, Index a_hi, Index b_lo, Index b_hi, Index* x_mid, Index* y_mid,
                    Index* distance) {
    const Index n = a_hi - a_lo;
    const Index m = b_hi - b_lo;
    const Index delta = n - m;
    const bool odd = delta % 2 != 0;
    const Index limit = std::min(max_half_distance_, (n + m + 1) / 2);
    forward_.assign(2 * limit + 3, -1);
    backward_.assign(2 * limit + 3, n + 1);
    auto forward = [&](Index k) -> Index& { return forward_[k + limit + 1]; };
    auto backward = [&](Index k) -> Index& { return backward_[k - delta + limit + 1]; };
    const Index* a = a_.data() + a_lo;
    const Index* b = b_.data() + b_lo;

    for (Index d = 0; d <= limit; ++d) {
      for (Index k = d; k >= -d; k -= 2) {
        if (!Step()) return false;
        if (k < -m || k > n) continue;
        Index x = -1;
        if (d == 0) {
          x = 0;
        } else {
          Index left = forward(k - 1);  // one deletion from diagonal k - 1
          if (left >= 0 && left < n) x = left + 1;
          Index above = forward(k + 1);  // one insertion from diagonal k + 1
          if (above >= 0 && above - k <= m) x = std::max(x, above);
        }
        if (x < 0) {
          forward(k) = -1;
          continue;
        }
        Index y = x - k;
        Index start = x;
        while (x < n && y < m && a[x] == b[y]) ++x, ++y;
        if (!Step(x - start)) return false;
        forward(k) = x;
        if (odd && k - delta >= -(d - 1) && k - delta <= d - 1 && backward(k) <= x) {
          *x_mid = a_lo + x;
          *y_mid = b_lo + y;
          *distance = 2 * d - 1;
          return true;
        }
      }
      for (Index k = delta + d; k >= delta - d; k -= 2) {
        if (!Step()) return false;
        if (k < -m || k > n) continue;
        Index x = n + 1;
        if (d == 0) {
          x = n;
        } else {
          Index right = backward(k + 1);  // one deletion, undone, from diagonal k + 1
          if (right <= n && right > 0) x = right - 1;
          Index below = backward(k - 1);  // one insertion, undone, from diagonal k - 1
          if (below <= n && below - k >= 0) x = std::min(x, below);
        }
        if (x > n) {
          backward(k) = n + 1;
          continue;
        }
        Index y = x - k;
        Index start = x;
        while (x > 0 && y > 0 && a[x - 1] == b[y - 1]) --x, --y;
        if (!Step(start - x)) return false;
        backward(k) = x;
        if (!odd && k >= -d && k <= d && x <= forward(k)) {
          *x_mid = a_lo + x;
          *y_mid = b_lo + y;
          *distance = 2 * d;
          return true;
        }
      }
    }
    return false;
  }

  const std::vector<Index>& a_;
  const std::vector<Index>& b_;
  const Index max_edits_;
  const Index max_half_distance_;
  int64_t* steps_left_;
  std::vector<char>* a_changed_;
  std::vector<char>* b_changed_;
  std::vector<Index> forward_;
  std::vector<Index> backward_;
};

// Marks a minimal set of changed lines between old_ids[prefix, n - suffix) and
// new_ids[prefix, m - suffix). A line with no equal in the other text's window is changed in every
// script, so those are marked at once and the search runs over the rest only: quicker, and the
// remaining lines line up as GNU diff lines them up. Returns false when the distance exceeds
// kUnifiedDiffMaxEdits or the step budget runs out.
bool SearchMiddle(const std::vector<Index>& old_ids, const std::vector<Index>& new_ids,
                  Index prefix, Index suffix, int64_t* steps_left, std::vector<char>* old_changed,
                  std::vector<char>* new_changed) {
  const Index old_end = static_cast<Index>(old_ids.size()) - suffix;
  const Index new_end = static_cast<Index>(new_ids.size()) - suffix;
  Index id_count = 0;
  for (Index id : old_ids) id_count = std::max(id_count, id + 1);
  for (Index id : new_ids) id_count = std::max(id_count, id + 1);
  std::vector<char> in_old(id_count, 0);
  std::vector<char> in_new(id_count, 0);
  for (Index i = prefix; i < old_end; ++i) in_old[old_ids[i]] = 1;
  for (Index j = prefix; j < new_end; ++j) in_new[new_ids[j]] = 1;

  // Kept lines: their positions in the full text and their ids.
  std::vector<Index> old_kept, old_kept_ids, new_kept, new_kept_ids;
  Index discarded = 0;
  for (Index i = prefix; i < old_end; ++i) {
    if (in_new[old_ids[i]]) {
      old_kept.push_back(i);
      old_kept_ids.push_back(old_ids[i]);
    } else {
      (*old_changed)[i] = 1;
      ++discarded;
    }
  }
  for (Index j = prefix; j < new_end; ++j) {
    if (in_old[new_ids[j]]) {
      new_kept.push_back(j);
      new_kept_ids.push_back(new_ids[j]);
    } else {
      (*new_changed)[j] = 1;
      ++discarded;
    }
  }
  if (discarded > kUnifiedDiffMaxEdits) return false;

  std::vector<char> old_kept_changed(old_kept.size(), 0);
  std::vector<char> new_kept_changed(new_kept.size(), 0);
  EditSearch search(old_kept_ids, new_kept_ids, kUnifiedDiffMaxEdits - discarded, steps_left,
                    &old_kept_changed, &new_kept_changed);
  if (!search.Run(0, static_cast<Index>(old_kept.size()), 0, static_cast<Index>(new_kept.size()))) {
    return false;
  }
  for (size_t r = 0; r < old_kept.size(); ++r) (*old_changed)[old_kept[r]] = old_kept_changed[r];
  for (size_t r = 0; r < new_kept.size(); ++r) (*new_changed)[new_kept[r]] = new_kept_changed[r];
  return true;
}

// A minimal script often has several equally short forms ("insert b after the first b" or "before
// it"). Slides each run of changed lines of one text up as far as equal lines allow, then down as
// far as they allow, merging with runs it meets, and finally back up to the lowest position where
// it faces a change in the other text (a replacement reads better than a deletion next to an
// insertion). Runs stay within [begin, end_of_window). Each slide keeps the script valid and
// minimal; stops early when the budget runs out.
void SlideChanges(const std::vector<Index>& ids, Index begin, Index end_of_window,
                  std::vector<char>& changed, const std::vector<char>& other_changed,
                  int64_t* steps_left) {
  const Index n = end_of_window;
  // The k-th unchanged line of this text matches the k-th unchanged line of the other.
  std::vector<Index> other_unchanged;
  for (size_t j = 0; j < other_changed.size(); ++j) {
    if (!other_changed[j]) other_unchanged.push_back(static_cast<Index>(j));
  }
  const Index other_size = static_cast<Index>(other_changed.size());
  const Index unchanged_count = static_cast<Index>(other_unchanged.size());
  // Whether a run preceded by `rank` unchanged lines faces changed lines in the other text.
  auto faces_change = [&](Index rank) {
    Index before = rank == 0 ? -1 : other_unchanged[rank - 1];
    Index after = rank < unchanged_count ? other_unchanged[rank] : other_size;
    return after - before > 1;
  };

  Index i = begin;
  Index rank = begin;  // unchanged lines before i (the common prefix is unchanged)
  while (true) {
    while (i < n && !changed[i]) ++i, ++rank;
    if (i == n) return;
    Index start = i;
    Index end = i;
    while (end < n && changed[end]) ++end;
    Index aligned_end = -1;
    while (true) {
      const Index length = end - start;
      while (start > begin && ids[start - 1] == ids[end - 1]) {
        if (--*steps_left < 0) return;
        changed[--start] = 1;
        changed[--end] = 0;
        --rank;
        while (start > begin && changed[start - 1]) --start;
      }
      aligned_end = faces_change(rank) ? end : -1;
      while (end < n && ids[start] == ids[end]) {
        if (--*steps_left < 0) return;
        changed[start++] = 0;
        changed[end++] = 1;
        ++rank;
        while (end < n && changed[end]) ++end;
        if (faces_change(rank)) aligned_end = end;
      }
      if (end - start == length) break;
    }
    // The last pass merged nothing, so it slid through every position between here and
    // aligned_end: sliding back is valid.
    while (aligned_end >= 0 && end > aligned_end) {
      changed[--start] = 1;
      changed[--end] = 0;
      --rank;
    }
    i = end;
  }
}

struct Change {
  Index old_start;
  Index old_end;
  Index new_start;
  Index new_end;
};

std::vector<Change> CollectChanges(const std::vector<char>& old_changed,
                                   const std::vector<char>& new_changed) {
  std::vector<Change> changes;
  const Index n = static_cast<Index>(old_changed.size());
  const Index m = static_cast<Index>(new_changed.size());
  Index i = 0;
  Index j = 0;
  while (i < n || j < m) {
    if ((i < n && old_changed[i]) || (j < m && new_changed[j])) {
      Change change{i, i, j, j};
      while (i < n && old_changed[i]) ++i;
      while (j < m && new_changed[j]) ++j;
      change.old_end = i;
      change.new_end = j;
      changes.push_back(change);
    } else {
      ++i, ++j;
    }
  }
  return changes;
}

// GNU diff's range forms: "3" for one line, "3,4" for four lines from line 3, and "2,0" for no
// lines, naming the line before the empty range.
void AppendRange(std::string& out, Index start, Index count) {
  if (count == 0) {
    out += std::to_string(start) + ",0";
  } else if (count == 1) {
    out += std::to_string(start + 1);
  } else {
    out += std::to_string(start + 1) + "," + std::to_string(count);
  }
}

void AppendLine(std::string& out, char prefix, std::string_view line) {
  out += prefix;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string UnifiedDiff(std::string_view old_text, std::string_view new_text,
                        std::string_view old_label, std::string_view new_label, int context) {
  if (old_text == new_text) return "";
  const Index context_lines = std::max(context, 0);
  const std::vector<std::string_view> old_lines = SplitLines(old_text);
  const std::vector<std::string_view> new_lines = SplitLines(new_text);
  std::vector<Index> old_ids;
  std::vector<Index> new_ids;
  AssignIds(old_lines, new_lines, &old_ids, &new_ids);
  const Index n = static_cast<Index>(old_ids.size());
  const Index m = static_cast<Index>(new_ids.size());

  Index prefix = 0;
  while (prefix < n && prefix < m && old_ids[prefix] == new_ids[prefix]) ++prefix;
  Index suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix &&
         old_ids[n - 1 - suffix] == new_ids[m - 1 - suffix]) {
    ++suffix;
  }

  std::vector<char> old_changed(n, 0);
  std::vector<char> new_changed(m, 0);
  int64_t steps_left = kMaxSteps;
  // As GNU diff does, compare a window holding the differing middle and up to `context` lines of
  // the common prefix and suffix on each side; changes may slide into it.
  const Index window_prefix = prefix - std::min(prefix, context_lines);
  const Index window_suffix = suffix - std::min(suffix, context_lines);
  if (SearchMiddle(old_ids, new_ids, window_prefix, window_suffix, &steps_left, &old_changed,
                   &new_changed)) {
    SlideChanges(old_ids, window_prefix, n - window_suffix, old_changed, new_changed, &steps_left);
    SlideChanges(new_ids, window_prefix, m - window_suffix, new_changed, old_changed, &steps_left);
  } else {
    // Too far apart to search: replace the whole differing middle.
    std::fill(old_changed.begin(), old_changed.end(), 0);
    std::fill(new_changed.begin(), new_changed.end(), 0);
    std::fill(old_changed.begin() + prefix, old_changed.begin() + (n - suffix), 1);
    std::fill(new_changed.begin() + prefix, new_changed.begin() + (m - suffix), 1);
  }

  const std::vector<Change> changes = CollectChanges(old_changed, new_changed);
  std::string out;
  out += "--- ";
  out += old_label;
  out += "\n+++ ";
  out += new_label;
  out += "\n";
  size_t first = 0;
  while (first < changes.size()) {
    size_t last = first;
    while (last + 1 < changes.size() &&
           changes[last + 1].old_start - changes[last].old_end <= 2 * context_lines) {
      ++last;
    }
    // Unchanged lines pair up one to one, so context has the same length in both texts.
    const Index leading = std::min(context_lines, changes[first].old_start);
    const Index trailing = std::min(context_lines, n - changes[last].old_end);
    const Index old_first = changes[first].old_start - leading;
    const Index new_first = changes[first].new_start - leading;
    const Index old_end = changes[last].old_end + trailing;
    const Index new_end = changes[last].new_end + trailing;
    out += "@@ -";
    AppendRange(out, old_first, old_end - old_first);
    out += " +";
    AppendRange(out, new_first, new_end - new_first);
    out += " @@\n";
    Index i = old_first;
    for (size_t c = first; c <= last; ++c) {
      for (; i < changes[c].old_start; ++i) AppendLine(out, ' ', old_lines[i]);
      for (Index k = changes[c].old_start; k < changes[c].old_end; ++k) {
        AppendLine(out, '-', old_lines[k]);
      }
      for (Index k = changes[c].new_start; k < changes[c].new_end; ++k) {
        AppendLine(out, '+', new_lines[k]);
      }
      i = changes[c].old_end;
    }
    for (; i < old_end; ++i) AppendLine(out, ' ', old_lines[i]);
    first = last + 1;
  }
  return out;
}

}  // namespace drover
