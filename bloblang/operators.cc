#include "bloblang/operators.h"

#include <cmath>
#include <cstdint>

namespace drover::bloblang {
namespace {

std::string_view OperationName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "add";
    case BinaryOp::kSubtract:
      return "subtract";
    case BinaryOp::kDivide:
      return "divide";
    case BinaryOp::kMultiply:
      return "multiply";
    case BinaryOp::kModulo:
      return "modulo";
    case BinaryOp::kAnd:
      return "boolean and";
    case BinaryOp::kOr:
      return "boolean or";
    case BinaryOp::kCoalesce:
      return "coalesce";
    default:
      return "compare";
  }
}

bool Mismatch(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
              std::string* error) {
  *error = "cannot " + std::string(OperationName(op)) + " types " + std::string(TypeName(l)) +
           " (from " + ln.annotation + ") and " + std::string(TypeName(r)) + " (from " +
           rn.annotation + ")";
  return false;
}

bool IsNumber(const Value& v) { return v.is_value() && v.get().is_number(); }
bool IsFloat(const Value& v) { return v.is_value() && v.get().is_number_float(); }
bool IsSignedInt(const Value& v) {
  return v.is_value() && v.get().is_number_integer() && !v.get().is_number_unsigned();
}

std::optional<std::string_view> StringOf(const Value& v) {
  if (!v.is_value()) return std::nullopt;
  const Json& j = v.get();
  if (j.is_string()) return std::string_view(j.get_ref<const std::string&>());
  if (j.is_binary()) {
    const auto& b = j.get_binary();
    return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
  }
  return std::nullopt;
}

// Integer arithmetic wraps around on overflow, as Go's does.
int64_t Wrap(uint64_t v) { return static_cast<int64_t>(v); }

Json IntOp(BinaryOp op, int64_t a, int64_t b) {
  uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  switch (op) {
    case BinaryOp::kAdd:
      return Wrap(ua + ub);
    case BinaryOp::kSubtract:
      return Wrap(ua - ub);
    case BinaryOp::kMultiply:
      return Wrap(ua * ub);
    default:
      return nullptr;
  }
}

Json UintOp(BinaryOp op, uint64_t a, uint64_t b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSubtract:
      return a - b;
    case BinaryOp::kMultiply:
      return a * b;
    default:
      return nullptr;
  }
}

Json FloatOp(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSubtract:
      return a - b;
    case BinaryOp::kMultiply:
      return a * b;
    default:
      return nullptr;
  }
}

template <typename T>
bool CompareWith(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    default:
      return false;
  }
}

// Bento's numberDegradationFunc: float if either side is a float, else int64 if either side is
// signed, else uint64. `int_fn`, `uint_fn` and `float_fn` compute the result.
template <typename IntFn, typename UintFn, typename FloatFn>
bool Degrade(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
             Value* out, std::string* error, IntFn int_fn, UintFn uint_fn, FloatFn float_fn) {
  if (!IsNumber(l) || !IsNumber(r)) return Mismatch(op, l, r, ln, rn, error);
  const Json& a = l.get();
  const Json& b = r.get();
  if (IsFloat(l) || IsFloat(r)) {
    *out = Value::Own(float_fn(*GetNumber(a), *GetNumber(b)));
  } else if (IsSignedInt(l) || IsSignedInt(r)) {
    *out = Value::Own(int_fn(*GetInt(a), *GetInt(b)));
  } else {
    *out = Value::Own(uint_fn(a.get<uint64_t>(), b.get<uint64_t>()));
  }
  return true;
}

bool Generic(BinaryOp op, const Value& l, const Value& r, Value* out) {
  bool equal = l.is_value() && r.is_value() && ValuesEqual(l.get(), r.get());
  *out = Value::Own(op == BinaryOp::kEqual ? equal : !equal);
  return true;
}

bool Compare(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
             Value* out, std::string* error) {
  bool equality = op == BinaryOp::kEqual || op == BinaryOp::kNotEqual;
  if (auto ls = StringOf(l)) {
    auto rs = StringOf(r);
    if (!rs) return equality ? Generic(op, l, r, out) : Mismatch(op, l, r, ln, rn, error);
    *out = Value::Own(CompareWith(op, *ls, *rs));
    return true;
  }
  if (IsNumber(l)) {
    if (!IsNumber(r)) return equality ? Generic(op, l, r, out) : Mismatch(op, l, r, ln, rn, error);
    return Degrade(
        op, l, r, ln, rn, out, error,
        [op](int64_t a, int64_t b) { return Json(CompareWith(op, a, b)); },
        [op](uint64_t a, uint64_t b) { return Json(CompareWith(op, a, b)); },
        [op](double a, double b) { return Json(CompareWith(op, a, b)); });
  }
  if (l.is_value() && l.get().is_boolean()) {
    if (!equality) return Mismatch(op, l, r, ln, rn, error);
    std::optional<bool> rb = r.is_value() ? GetBool(r.get()) : std::nullopt;
    if (!rb) return Generic(op, l, r, out);
    *out = Value::Own(CompareWith(op, l.get().get<bool>(), *rb));
    return true;
  }
  if (!equality) return Mismatch(op, l, r, ln, rn, error);
  return Generic(op, l, r, out);
}

}  // namespace

bool ApplyOperator(BinaryOp op, const Value& l, const Value& r, const Node& ln, const Node& rn,
                   Value* out, std::string* error) {
  switch (op) {
    case BinaryOp::kAdd:
      if (auto ls = StringOf(l)) {
        auto rs = StringOf(r);
        if (!rs) return Mismatch(op, l, r, ln, rn, error);
        std::string joined;
        joined.reserve(ls->size() + rs->size());
        joined.append(*ls).append(*rs);
        *out = Value::Own(std::move(joined));
        return true;
      }
      [[fallthrough]];
    case BinaryOp::kSubtract:
    case BinaryOp::kMultiply:
      return Degrade(
          op, l, r, ln, rn, out, error, [op](int64_t a, int64_t b) { return IntOp(op, a, b); },
          [op](uint64_t a, uint64_t b) { return UintOp(op, a, b); },
          [op](double a, double b) { return FloatOp(op, a, b); });
    case BinaryOp::kDivide: {
      if (!IsNumber(l) || !IsNumber(r)) return Mismatch(op, l, r, ln, rn, error);
      double b = *GetNumber(r.get());
      if (b == 0) {
        *error = rn.annotation + ": attempted to divide by zero";
        return false;
      }
      *out = Value::Own(*GetNumber(l.get()) / b);
      return true;
    }
    case BinaryOp::kModulo: {
      if (!IsNumber(l) || !IsNumber(r)) return Mismatch(op, l, r, ln, rn, error);
      int64_t a = *GetInt(l.get());
      int64_t b = *GetInt(r.get());
      if (b == 0) {
        *error = rn.annotation + ": attempted to divide by zero";
        return false;
      }
      *out = Value::Own(b == -1 ? int64_t{0} : a % b);
      return true;
    }
    case BinaryOp::kEqual:
    case BinaryOp::kNotEqual:
    case BinaryOp::kGreater:
    case BinaryOp::kGreaterEqual:
    case BinaryOp::kLess:
    case BinaryOp::kLessEqual:
      return Compare(op, l, r, ln, rn, out, error);
    case BinaryOp::kAnd:
    case BinaryOp::kOr:
    case BinaryOp::kCoalesce:
      break;
  }
  *error = "unsupported operator";
  return false;
}

}  // namespace drover::bloblang
