// Search latency over N ServiceRequests (default 100,000): builds a SearchIndex in a temp dir
// from generated Korean descriptions, then times queries of 1, 2 and 3 syllables, two words
// and mixed Korean/English. Not a ctest; run by hand (docs/PERFORMANCE.md, "Governance").
//   governance_search_bench [N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "governance/search_index.h"

using namespace cityroom;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 100'000;
  const auto dir = std::filesystem::temp_directory_path() / "governance-search-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto index = governance::SearchIndex::open(dir / "index.db");
  if (!index) {
    std::fprintf(stderr, "%s\n", index.error().detail.c_str());
    return 1;
  }
  const char* words[] = {"불법", "주정차", "차량이", "골목을", "막고", "있습니다", "공영주차장에",
                         "가로등이", "고장났어요", "밤길이", "어둡습니다", "도로", "파손", "포트홀",
                         "보도블록이", "깨졌어요", "쓰레기", "무단투기", "신고합니다", "소음이",
                         "심해요", "공사장", "민원", "처리", "요청", "빨리", "해주세요", "CCTV",
                         "설치", "어린이", "보호구역", "횡단보도", "신호등", "버스정류장", "택시",
                         "자전거", "킥보드", "방치", "악취", "하수구", "막힘", "나무", "가지치기",
                         "눈", "제설", "빙판길", "미끄러워요", "주민센터", "안내", "친절"};
  const std::size_t nwords = std::size(words);
  std::mt19937 rng(42);
  const auto t0 = Clock::now();
  std::vector<json::object> batch;
  for (std::size_t i = 0; i < n; ++i) {
    std::string d;
    const int len = 6 + static_cast<int>(rng() % 10);
    for (int k = 0; k < len; ++k) {
      d += words[rng() % nwords];
      d += ' ';
    }
    batch.push_back(json::object{
        {"id", "urn:ngsi-ld:ServiceRequest:bench-" + std::to_string(i)},
        {"type", "ServiceRequest"},
        {"serviceCode", "code-" + std::to_string(i % 7)},
        {"serviceName", "기타"},
        {"description", d},
        {"status", "open"},
        {"requestedAt", json::object{{"@type", "DateTime"},
                                     {"@value", base::format_iso8601(base::now_micros() -
                                                                     static_cast<base::Micros>(i) * 60'000'000)}}}});
    if (batch.size() == 1000 || i + 1 == n) {
      if (auto r = (*index)->upsert_many("", batch); !r) {
        std::fprintf(stderr, "%s\n", r.error().detail.c_str());
        return 1;
      }
      batch.clear();
    }
  }
  const double build_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("indexed %zu requests in %.1f s (%.0f/s); file %.1f MiB\n", n, build_s, n / build_s,
              std::filesystem::file_size(dir / "index.db") / 1048576.0);
  const std::pair<const char*, const char*> queries[] = {
      {"1 syllable", "눈"},        {"2 syllables", "민원"},        {"3 syllables", "주정차"},
      {"inside a word", "주차장"}, {"two words", "가로등 고장"},   {"mixed", "cctv 설치"},
      {"rare", "가지치기 빙판길 킥보드"}, {"no hit", "로주"}};
  for (const bool relevance : {false, true}) {
  std::printf("order=%s\n", relevance ? "relevance (bm25)" : "recent (default)");
  for (const auto& [label, q] : queries) {
    std::vector<double> us;
    std::size_t hits = 0;
    for (int i = 0; i < (relevance ? 20 : 200); ++i) {
      const auto s = Clock::now();
      auto r = (*index)->search("", q, "", 20, relevance);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      if (r) hits = r->size();
    }
    std::sort(us.begin(), us.end());
    std::printf("%-14s %-22s p50 %7.0f us  p99 %7.0f us  (%zu hits shown)\n", label, q,
                us[us.size() / 2], us[us.size() * 99 / 100], hits);
  }
  }
  governance::RequestFilter f;
  f.end = base::now_micros() + 1;
  f.start = f.end - governance::kDefaultWindow;
  f.codes = {"code-3"};
  auto s = Clock::now();
  auto ids = (*index)->request_ids("", f);
  std::printf("Open311 filter (service_code, 90 days, 1000 max): %zu ids in %.1f ms\n",
              ids ? ids->size() : 0,
              std::chrono::duration<double, std::milli>(Clock::now() - s).count());
  s = Clock::now();
  auto st = (*index)->request_stats("", f.start, f.end, base::now_micros());
  std::printf("request statistics over 90 days: %.1f ms\n",
              std::chrono::duration<double, std::milli>(Clock::now() - s).count());
  index->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
