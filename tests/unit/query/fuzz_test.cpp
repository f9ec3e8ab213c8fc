// Random inputs built from the grammars' own characters: every parser must answer with a
// filter or an InvalidRequest/TooComplexQuery, and every filter it builds must evaluate.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fixture.h"
#include "query/query.h"

using namespace cityroom;
using query::testing::room;

namespace {

constexpr std::size_t kRandomInputs = 10'000;
constexpr std::size_t kInputLengthMax = 48;
constexpr std::uint32_t kSeed = 20240229;

constexpr std::string_view kAlphabet = "abtnm.[]()!=<>~;|,\"\\ 0123456789-+:TZe*?^$#/@";

// Fragments that steer the generator into deeper grammar than single characters reach.
const std::vector<std::string_view> kFragments = {
    "temperature",
    "name",
    "address[street]",
    "power",
    "label",
    "==",
    "!=",
    ">=",
    "<=",
    "~=",
    "!~=",
    "..",
    "2024-05-01T10:00:00Z",
    "\"Main Hall\"",
    "true",
    "null",
    "(?i)",
    "observedAt",
    "id",
    "type",
    "09:00",
    "-1.5e3",
    "urn:a",
    "(a*)*b",
    "/Seoul",
    "/#",
    "/+",
};

std::string random_input(std::mt19937& rng) {
  std::uniform_int_distribution<std::size_t> length(0, kInputLengthMax);
  std::uniform_int_distribution<std::size_t> pick_char(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> pick_fragment(0, kFragments.size() - 1);
  std::uniform_int_distribution<int> coin(0, 3);
  std::string out;
  const std::size_t n = length(rng);
  while (out.size() < n) {
    if (coin(rng) == 0) {
      out += kFragments[pick_fragment(rng)];
    } else {
      out += kAlphabet[pick_char(rng)];
    }
  }
  return out;
}

bool is_query_error(base::ErrorKind kind) {
  return kind == base::ErrorKind::kInvalidRequest || kind == base::ErrorKind::kTooComplexQuery;
}

}  // namespace

TEST(Fuzz, ParsersAnswerEveryInput) {
  std::mt19937 rng(kSeed);
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < kRandomInputs; ++i) {
    const std::string input = random_input(rng);
    SCOPED_TRACE(input);
    if (auto q = query::parse_q(input)) {
      ++accepted;
      (void)q->matches(room());
      (void)q->attributes();
      (void)q->necessary_conditions();
    } else {
      ASSERT_TRUE(is_query_error(q.error().kind));
      ASSERT_TRUE(q.error().detail.starts_with("q: ")) << q.error().detail;
    }
    if (auto scope = query::parse_scope_q(input)) {
      (void)scope->matches(room());
    } else {
      ASSERT_TRUE(is_query_error(scope.error().kind));
    }
    if (auto types = query::parse_types(input)) {
      (void)types->matches(room());
      (void)types->any_of();
    } else {
      ASSERT_TRUE(is_query_error(types.error().kind));
    }
  }
  // The generator must reach the accepting paths too, or the test proves little.
  EXPECT_GT(accepted, kRandomInputs / 50);
}
