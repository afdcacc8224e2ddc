// UnifiedDiff: a line-oriented diff of two texts in the unified format that GNU `diff -u` prints,
// used for the `diff` of dry runs, `PUT /jobs/diff` and version history (SPEC §3). A pure function
// of its arguments: no state, safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

namespace drover {

// The largest edit distance (lines deleted plus lines inserted, after trimming the common prefix
// and suffix) for which UnifiedDiff searches for a minimal edit script. Beyond it, or when the
// search would take too many steps, the whole differing middle is shown as one replacement.
inline constexpr int kUnifiedDiffMaxEdits = 4000;

// Returns the unified diff turning `old_text` into `new_text`, or "" when they are equal:
//
//   --- old_label
//   +++ new_label
//   @@ -a,b +c,d @@
//    context line
//   -deleted line
//   +inserted line
//
// Texts are split after each '\n'; a last line without one is followed by
// "\ No newline at end of file" and differs from the same line with one. Hunk ranges are printed
// as GNU diff prints them ("-3" for a single line, "-0,0" / "-4,0" for an empty range, naming the
// line before it). `context` is the number of unchanged lines shown around each change (negative
// counts as 0); changes separated by at most 2 * context unchanged lines share one hunk. The
// labels are printed as given, with no timestamp.
//
// The edit script is minimal (Myers' O(ND) algorithm in linear space). Where several minimal
// scripts exist, the choice follows GNU diff's: lines with no equal in the other text are set
// aside before the search, and runs of changes are slid down as far as equal lines allow, then
// back up to face a change in the other text. On thousands of random inputs the output matched
// GNU diff 3.8 `diff -U<context>` byte for byte, header timestamps aside; that is a goal, not a
// guarantee. Work is bounded: see kUnifiedDiffMaxEdits.
std::string UnifiedDiff(std::string_view old_text, std::string_view new_text,
                        std::string_view old_label, std::string_view new_label, int context = 3);

}  // namespace drover
