#include <gtest/gtest.h>

#include "governance/hangul_tokenizer.h"

namespace cityroom::governance {
namespace {

std::vector<std::string> tokens(std::string_view text, bool query) {
  std::vector<std::string> out;
  hangul_tokens(text, query, [&](std::string_view t, bool colocated, std::size_t, std::size_t) {
    out.push_back((colocated ? "+" : "") + std::string(t));
  });
  return out;
}

using V = std::vector<std::string>;

TEST(HangulTokenizer, DocumentsGetBigramsAndColocatedSyllables) {
  EXPECT_EQ(tokens("민원", false), (V{"민원", "+민", "원"}));
  EXPECT_EQ(tokens("주차장", false), (V{"주차", "+주", "차장", "+차", "장"}));
  EXPECT_EQ(tokens("길", false), (V{"길"}));
}

TEST(HangulTokenizer, QueriesAreBigramsOrOneSyllable) {
  EXPECT_EQ(tokens("주차장", true), (V{"주차", "차장"}));
  EXPECT_EQ(tokens("민원", true), (V{"민원"}));
  EXPECT_EQ(tokens("길", true), (V{"길"}));
}

TEST(HangulTokenizer, LatinAndDigitsAreLowerCasedWordsAndSpacesSplitRuns) {
  EXPECT_EQ(tokens("CCTV설치 2024년", false),
            (V{"cctv", "설치", "+설", "치", "2024", "년"}));
  // No bigram across a space or punctuation.
  EXPECT_EQ(tokens("도로 주차", true), (V{"도로", "주차"}));
  EXPECT_EQ(tokens("도로,주차", false), (V{"도로", "+도", "로", "주차", "+주", "차"}));
}

TEST(HangulTokenizer, OffsetsPointAtTheSourceBytes) {
  std::vector<std::string> spans;
  const std::string text = "밤길 STREET";
  hangul_tokens(text, false, [&](std::string_view, bool, std::size_t b, std::size_t e) {
    spans.push_back(text.substr(b, e - b));
  });
  EXPECT_EQ(spans, (V{"밤길", "밤", "길", "STREET"}));
}

TEST(HangulTokenizer, InvalidUtf8SeparatesInsteadOfCrashing) {
  EXPECT_EQ(tokens("민\xFF원", false), (V{"민", "원"}));
  EXPECT_EQ(tokens("\xE1\x80", false), (V{}));
}

TEST(HangulTokenizer, MatchExpressionQuotesEachWord) {
  EXPECT_EQ(match_expression("주차 민원"), "\"주차\" AND \"민원\"");
  EXPECT_EQ(match_expression("say \"hi\""), "\"say\" AND \"\"\"hi\"\"\"");
  EXPECT_EQ(match_expression("  - ... "), "");
}

}  // namespace
}  // namespace cityroom::governance
