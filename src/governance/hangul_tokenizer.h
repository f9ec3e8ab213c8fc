// governance/hangul_tokenizer: the FTS5 tokenizer Korean search needs.
//
// SQLite's trigram tokenizer cannot find words of one or two syllables (민원, 주차), and the
// unicode61 tokenizer indexes whole space-separated runs (주차장에 ≠ 주차장), so a Korean word
// with a particle attached is never found. This tokenizer indexes every run of Hangul (or Han)
// syllables as overlapping syllable bigrams, each with the syllable it starts on as a
// colocated token (so a one-syllable query finds it); the run's last syllable is indexed
// alone. Runs of Latin letters and digits become lower-cased words. Everything else
// separates: a bigram never spans a space or punctuation, so "도로 주차" does not match
// "로주".
// Queries: a one-syllable word is its unigram; a longer one is its bigrams as one phrase
// (consecutive positions), so "주차장" matches 주차장 and 주차장에 but not 주차 … 장.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "base/base.h"

namespace cityroom::governance {

inline constexpr std::string_view kHangulTokenizerName = "hangul";

// The tokens of `text` as FTS5 sees them: the token, whether it is colocated with the previous
// one, and the byte range of `text` it came from (snippets and highlights use it).
using TokenSink = std::function<void(std::string_view token, bool colocated, std::size_t begin,
                                     std::size_t end)>;
void hangul_tokens(std::string_view text, bool query, const TokenSink& emit);

// Registers the tokenizer on `db` as "hangul" (fts5(..., tokenize='hangul')).
base::Result<void> register_hangul_tokenizer(sqlite3* db);

// A user's query ("주차 민원 cctv") → an FTS5 MATCH expression: each whitespace-separated word
// a quoted phrase, all words required. Empty when the query has no searchable word.
std::string match_expression(std::string_view user_query);

}  // namespace cityroom::governance
