// scopeQ and type selection.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "fixture.h"
#include "query/query.h"

using namespace cityroom;
using query::testing::room;

namespace {

struct Case {
  const char* expression;
  bool expected;
};

std::string repeat(std::string_view unit, std::size_t n, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += sep;
    out += unit;
  }
  return out;
}

}  // namespace

TEST(ScopeQ, MatchesLevelsAndWildcards) {
  // The room's scopes: /Seoul/Gangnam/Yeoksam and /Org/A.
  const std::vector<Case> cases = {
      {"/Seoul/Gangnam/Yeoksam", true},
      {"/Seoul/Gangnam", false},
      {"/Seoul", false},
      {"/Seoul/Gangnam/Yeoksam/Floor1", false},
      {"/Seoul/Gangnam/#", true},
      {"/Seoul/#", true},
      {"/#", true},
      {"/Seoul/+", false},
      {"/Seoul/+/Yeoksam", true},
      {"/Seoul/Gangnam/+", true},
      {"/+/+/+", true},
      {"/+", false},
      {"/Org/A/#", true},
      {"/Org/+", true},
      {"/Busan|/Org/A", true},
      {"/Busan,/Org/A", true},
      {"/Busan;/Org/A", false},
      {"/Seoul/#;/Org/A", true},
      {"(/Busan|/Seoul/#);/Org/+", true},
      {"/Busan|(/Seoul/#;/Org/B)", false},
      {" /Org/A ", true},
      {"/org/a", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expression);
    auto filter = query::parse_scope_q(c.expression);
    ASSERT_TRUE(filter) << filter.error().detail;
    EXPECT_EQ(filter->matches(room()), c.expected);
  }
}

TEST(ScopeQ, EntitiesWithoutScopeNeverMatch) {
  auto plain = query::testing::entity_from(R"({"id": "urn:x", "type": ["T"]})");
  auto single = query::testing::entity_from(R"({"id": "urn:x", "type": ["T"], "scope": "/A"})");
  auto all = query::parse_scope_q("/#");
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->matches(plain));
  EXPECT_TRUE(all->matches(single));  // a lone string is accepted as one scope
}

TEST(ScopeQ, ErrorsSayWhere) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"", "scopeQ: empty expression at position 0"},
      {"Seoul", "scopeQ: a scope starts with '/', found 'S' at position 0"},
      {"/a//b", "expected a scope level, found '/' at position 3"},
      {"/a/", "expected a scope level, found end of input at position 3"},
      {"/", "expected a scope level"},
      {"/a/#/b", "'#' must be the last level"},
      {"/a+b", "'+' and '#' must stand alone as a level"},
      {"(/a", "expected ')' to close the '(' at position 0"},
      {"/a)", "unexpected ')' at position 2"},
      {"/a;", "a scope starts with '/', found end of input at position 3"},
  };
  for (const auto& [expression, detail] : cases) {
    SCOPED_TRACE(expression);
    auto filter = query::parse_scope_q(expression);
    ASSERT_FALSE(filter);
    EXPECT_EQ(filter.error().kind, base::ErrorKind::kInvalidRequest);
    EXPECT_NE(filter.error().detail.find(detail), std::string::npos) << filter.error().detail;
  }
}

TEST(ScopeQ, Limits) {
  auto many = query::parse_scope_q(repeat("/a", query::kQueryTermsMax + 1, "|"));
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().kind, base::ErrorKind::kTooComplexQuery);
  auto deep = query::parse_scope_q(std::string(query::kQueryNestingMax + 1, '(') + "/a" +
                                   std::string(query::kQueryNestingMax + 1, ')'));
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().kind, base::ErrorKind::kTooComplexQuery);
}

TEST(Types, AlternativesAndConjunctions) {
  const std::vector<std::string> types = {"Room", "Place"};
  const std::vector<Case> cases = {
      {"Room", true},
      {"Building", false},
      {"Room,Building", true},
      {"Building|Room", true},
      {"Room;Place", true},
      {"Room;Building", false},
      {"(Room;Place)|Building", true},
      {"Building,(Room;Place)", true},
      {"(Room|Building);(Place|Shop)", true},
      {"(Room|Building);Shop", false},
      {" Room , Shop ", true},
      {"room", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expression);
    auto filter = query::parse_types(c.expression);
    ASSERT_TRUE(filter) << filter.error().detail;
    EXPECT_EQ(filter->matches(types), c.expected);
  }
}

TEST(Types, MatchEntitiesAfterExpansion) {
  auto filter = query::parse_types("Room;Place");
  ASSERT_TRUE(filter);
  const query::TypeFilter unexpanded = *filter;
  EXPECT_FALSE(filter->matches(room()));
  filter->expand_names([](std::string_view t) { return "https://ex.org/" + std::string(t); });
  EXPECT_TRUE(filter->matches(room()));
  EXPECT_EQ(filter->names(),
            (std::vector<std::string>{"https://ex.org/Room", "https://ex.org/Place"}));
  EXPECT_EQ(unexpanded.names(), (std::vector<std::string>{"Room", "Place"}));
  auto other = query::parse_types("https://ex.org/Shop");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->matches(room()));
}

TEST(Types, AnyOfOnlyForPureAlternatives) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(query::parse_types("A")->any_of(), Names{"A"});
  EXPECT_EQ(query::parse_types("A,B|C")->any_of(), (Names{"A", "B", "C"}));
  EXPECT_EQ(query::parse_types("(A|B),C")->any_of(), (Names{"A", "B", "C"}));
  EXPECT_EQ(query::parse_types("A,A")->any_of(), Names{"A"});
  EXPECT_EQ(query::parse_types("A;B")->any_of(), std::nullopt);
  EXPECT_EQ(query::parse_types("(A;B)|C")->any_of(), std::nullopt);
  EXPECT_EQ(query::parse_types("(A;B)|C,A")->names(), (Names{"A", "B", "C"}));
}

TEST(Types, ErrorsSayWhere) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"", "type: empty expression at position 0"},
      {"A,", "type: expected a type name, found end of input at position 2"},
      {"A;;B", "expected a type name, found ';' at position 2"},
      {"(A", "expected ')' to close the '(' at position 0, found end of input at position 2"},
      {"A)", "unexpected ')' at position 1"},
      {"A B", "unexpected 'B' at position 2"},
  };
  for (const auto& [expression, detail] : cases) {
    SCOPED_TRACE(expression);
    auto filter = query::parse_types(expression);
    ASSERT_FALSE(filter);
    EXPECT_EQ(filter.error().kind, base::ErrorKind::kInvalidRequest);
    EXPECT_NE(filter.error().detail.find(detail), std::string::npos) << filter.error().detail;
  }
  auto many = query::parse_types(repeat("A", query::kQueryTermsMax + 1, ","));
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().kind, base::ErrorKind::kTooComplexQuery);
}
