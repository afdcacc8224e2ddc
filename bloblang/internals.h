// Access to a Mapping's paths for tests and benchmarks: Apply takes a fast path for some mappings
// (FastPlan in bloblang/ast.h) that must give the same bytes as the general one.
#pragma once

#include "bloblang/bloblang.h"

namespace drover::bloblang {

struct MappingInternals {
  // Apply without the fast path: the reference the fast path must equal byte for byte.
  static MappingResult ApplyGeneral(const Mapping& mapping, const Message& input,
                                    const Environment& env);
  // Whether the mapping has a fast path at all.
  static bool HasFastPath(const Mapping& mapping);
  // Whether Apply takes the fast path for `input` (rather than falling back to the general one).
  static bool TakesFastPath(const Mapping& mapping, const Message& input, const Environment& env);
};

}  // namespace drover::bloblang
