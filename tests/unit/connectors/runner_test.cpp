// Pulls against local ports (this machine has no internet): a refused port, a server that never
// answers, HTTP errors and a server replaying a recorded answer; replay through a real hub; the
// catalog shows not-configured / unreachable / failed / fresh.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "common.h"
#include "connectors/connectors.h"

namespace cityroom::connectors {
namespace {

namespace fs = std::filesystem;

// A one-thread HTTP server on 127.0.0.1: answers every request with `response` (raw bytes), or
// never answers when `response` is empty. Remembers the last request line.
class LocalServer {
 public:
  explicit LocalServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~LocalServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int c : held_) ::close(c);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string last_request() {
    std::lock_guard lock(mutex_);
    return last_;
  }
  int requests() const { return count_; }

 private:
  void run() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        last_ = req.substr(0, req.find("\r\n"));
      }
      ++count_;
      if (response_.empty()) {
        held_.push_back(c);  // never answer
        continue;
      }
      ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> count_{0};
  std::mutex mutex_;
  std::string last_;
  std::vector<int> held_;
  std::thread thread_;
};

std::string http_response(int status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         std::string(body);
}

int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(HttpGet, RefusedTimeoutAndAnswers) {
  auto refused = http_get("http://127.0.0.1:" + std::to_string(closed_port()) + "/x",
                          std::chrono::milliseconds(2000));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, base::ErrorKind::kServiceUnavailable);
  EXPECT_NE(refused.error().detail.find("refused"), std::string::npos) << refused.error().detail;
  LocalServer silent("");
  auto timeout = http_get(silent.url() + "/x", std::chrono::milliseconds(300));
  ASSERT_FALSE(timeout);
  EXPECT_NE(timeout.error().detail.find("timeout after 300 ms"), std::string::npos)
      << timeout.error().detail;
  LocalServer failing(http_response(500, "oops"));
  auto answer = http_get(failing.url() + "/x?a=1", std::chrono::milliseconds(2000));
  ASSERT_TRUE(answer) << answer.error().detail;
  EXPECT_EQ(answer->status, 500);
  EXPECT_EQ(answer->body, "oops");
  EXPECT_EQ(failing.last_request(), "GET /x?a=1 HTTP/1.1");
  EXPECT_FALSE(http_get("ftp://example.org/", std::chrono::milliseconds(100)));
  LocalServer garbage("this is not HTTP\r\n\r\n");
  EXPECT_FALSE(http_get(garbage.url() + "/", std::chrono::milliseconds(1000)));
}

TEST(Config, DefaultsErrorsAndUrls) {
  auto bad = parse_connector_config(*json::parse(R"({"name": "x", "type": "kma"})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("type"), std::string::npos);
  auto typo = parse_connector_config(
      *json::parse(R"({"name": "x", "type": "kma-ncst", "perodSeconds": 5})"));
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().detail.find("perodSeconds"), std::string::npos);
  auto c = parse_connector_config(*json::parse(R"({"name": "gangnam-kma", "type": "kma-ncst",
      "key": "k+y/=", "points": [{"lat": 37.5172, "lon": 127.0473}],
      "dataset": {"department": {"ko": "재난안전과", "en": "Disaster Safety Division"}}})"));
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->dataset.id, "gangnam-kma");
  EXPECT_EQ(c->dataset.department.ko, "재난안전과");
  EXPECT_EQ(c->dataset.update_period_seconds, 600);
  // 2026-01-22 11:30 KST: the 11:00 observation is not out yet (published ~:40), ask 10:00.
  const auto now = *parse_kst("20260122", "1130");
  auto reqs = requests(*c, resolve_key(*c), now);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].url.find("getUltraSrtNcst?serviceKey=k%2By%2F%3D&"), std::string::npos);
  EXPECT_NE(reqs[0].url.find("base_date=20260122&base_time=1000&nx=61&ny=126"), std::string::npos)
      << reqs[0].url;
  auto air = default_config(Type::kAirKoreaProvince, "seoul-air");
  auto air_reqs = requests(air, "k", now);
  ASSERT_EQ(air_reqs.size(), 1u);
  EXPECT_TRUE(air_reqs[0].url.ends_with("&sidoName=%EC%84%9C%EC%9A%B8&ver=1.3")) << air_reqs[0].url;
  auto fcst = default_config(Type::kKmaFcst, "f");
  fcst.points = json::array{json::object{{"nx", 61}, {"ny", 126}}};
  // 02:05 KST: the 02:00 forecast is not out yet (~:10), ask yesterday's 23:00.
  auto f = requests(fcst, "k", *parse_kst("20260122", "0205"));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].url.find("base_date=20260121&base_time=2300"), std::string::npos) << f[0].url;
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cityroom-connectors-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    store_ = std::move(*store::open_sqlite({.data_dir = dir_ / "db"}));
    contexts_ = std::move(*ldcontext::ContextStore::open(testing::repo() / "data" / "contexts",
                                                         dir_ / "contexts"));
    hub_ = std::make_unique<hub::Hub>(*store_);
    catalog_ = std::make_unique<catalog::Catalog>(hub_.get(), contexts_->core());
  }
  void TearDown() override {
    catalog_.reset();
    hub_.reset();
    store_->close();
    fs::remove_all(dir_);
  }
  ConnectorConfig kma(std::string base_url, std::string key = "test-key") {
    auto c = default_config(Type::kKmaNcst, "test-kma");
    c.base_url = std::move(base_url);
    c.key = std::move(key);
    c.key_env = "CITYROOM_TEST_NO_SUCH_VARIABLE";
    c.points = json::array{json::object{{"nx", 60}, {"ny", 127}}};
    c.timeout = std::chrono::milliseconds(300);
    c.attempts = 2;
    c.backoff = std::chrono::milliseconds(10);
    return c;
  }
  std::string freshness(std::string_view id) {
    return std::string(catalog_->get(id)->at("freshness").as_string());
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ldcontext::ContextStore> contexts_;
  std::unique_ptr<hub::Hub> hub_;
  std::unique_ptr<catalog::Catalog> catalog_;
};

TEST_F(RunnerTest, WithoutAKeyItIsNotConfiguredAndNeverPulls) {
  LocalServer server(http_response(200, "{}"));
  Runner runner(*hub_, *contexts_, *catalog_, {kma(server.url(), "")});
  EXPECT_EQ(freshness("test-kma"), "not-configured");
  runner.start();
  runner.stop();
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(RunnerTest, RefusedAndSilentSourcesAreUnreachable) {
  Runner refused(*hub_, *contexts_, *catalog_,
                 {kma("http://127.0.0.1:" + std::to_string(closed_port()))});
  auto r = refused.pull(0);
  EXPECT_TRUE(r.unreachable);
  EXPECT_EQ(freshness("test-kma"), "unreachable");
  EXPECT_NE(std::string(catalog_->get("test-kma")->at("failureReason").as_string()).find("refused"),
            std::string::npos);
  // Reached again but answering an error: failed, no longer unreachable.
  LocalServer failing(http_response(500, "down"));
  Runner reached(*hub_, *contexts_, *catalog_, {kma(failing.url())});
  reached.pull(0);
  EXPECT_EQ(freshness("test-kma"), "failed");
  LocalServer silent("");
  Runner timing_out(*hub_, *contexts_, *catalog_, {kma(silent.url())});
  auto t = timing_out.pull(0);
  EXPECT_TRUE(t.unreachable);
  EXPECT_EQ(silent.requests(), 2);  // retried once
  EXPECT_NE(t.error.find("timeout"), std::string::npos) << t.error;
}

TEST_F(RunnerTest, HttpErrorsAndBadAnswersAreFailures) {
  LocalServer failing(http_response(503, "busy"));
  Runner r503(*hub_, *contexts_, *catalog_, {kma(failing.url())});
  auto a = r503.pull(0);
  EXPECT_FALSE(a.unreachable);
  EXPECT_EQ(a.error, "HTTP 503");
  EXPECT_EQ(failing.requests(), 2);  // 5xx is retried
  EXPECT_EQ(freshness("test-kma"), "failed");
  LocalServer nodata(http_response(200, testing::read(testing::fixtures() / "kma_ncst_nodata.json")));
  Runner rnodata(*hub_, *contexts_, *catalog_, {kma(nodata.url())});
  auto b = rnodata.pull(0);
  EXPECT_NE(b.error.find("NO_DATA"), std::string::npos);
  EXPECT_EQ(nodata.requests(), 1);  // an answer is not retried
  LocalServer forbidden(http_response(403, "<xml/>"));
  Runner r403(*hub_, *contexts_, *catalog_, {kma(forbidden.url())});
  EXPECT_EQ(r403.pull(0).error, "HTTP 403");
  EXPECT_EQ(freshness("test-kma"), "failed");
}

TEST_F(RunnerTest, ARecordedAnswerBecomesEntitiesAndTheDatasetIsFresh) {
  LocalServer server(http_response(
      200, testing::read(testing::samples() / "kma_getUltraSrtNcst_20260122_1100_nx60_ny127.json")));
  Runner runner(*hub_, *contexts_, *catalog_, {kma(server.url())});
  auto r = runner.pull(0);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.upserted, 1u);
  EXPECT_EQ(freshness("test-kma"), "fresh");
  EXPECT_EQ(catalog_->get("test-kma")->at("recordCount"), json::value(1));
  EXPECT_NE(server.last_request().find("/1360000/VilageFcstInfoService_2.0/getUltraSrtNcst?"),
            std::string::npos);
  auto e = hub_->get("", "urn:ngsi-ld:WeatherObserved:kma:60_127");
  ASSERT_TRUE(e && *e);
}

TEST_F(RunnerTest, ReplayEveryRecordedAndWrittenAnswer) {
  struct Case {
    Type type;
    fs::path file;
    std::size_t upserted;  // 0 with `fails`
    bool fails = false;
  };
  const std::vector<Case> cases = {
      {Type::kKmaNcst, testing::samples() / "kma_getUltraSrtNcst_20260122_1100_nx60_ny127.json", 1},
      {Type::kAirKoreaProvince,
       testing::samples() / "airkorea_getCtprvnRltmMesureDnsty_seoul_20240702_1700_nover.json", 10},
      {Type::kSeoulCitydata, testing::samples() / "seoul_citydata_POI009_20260826_EXCERPT.json", 6},
      {Type::kKmaFcst, testing::fixtures() / "kma_fcst_20260122_0500_nx61_ny126_written.json", 3},
      {Type::kSeoulCitydata, testing::fixtures() / "seoul_citydata_disaster_written.json", 8},
      {Type::kKmaNcst, testing::fixtures() / "kma_ncst_missing_values.json", 1},
      {Type::kKmaNcst, testing::fixtures() / "kma_ncst_nodata.json", 0, true},
      {Type::kKmaNcst, testing::fixtures() / "kma_ncst_xml_error.xml", 0, true},
      {Type::kAirKoreaProvince, testing::fixtures() / "airkorea_truncated.json", 0, true},
      {Type::kAirKoreaProvince, testing::fixtures() / "airkorea_all_missing.json", 0},
      {Type::kSeoulCitydata, testing::fixtures() / "seoul_citydata_nodata.json", 0, true},
      {Type::kSeoulCitydata, testing::fixtures() / "empty.json", 0, true},
  };
  for (const auto& c : cases) {
    auto config = default_config(c.type, "replay");
    auto r = replay(config, testing::read(c.file), *hub_, *contexts_, catalog_.get());
    EXPECT_EQ(r.error.empty(), !c.fails) << c.file << ": " << r.error;
    EXPECT_EQ(r.upserted, c.upserted) << c.file;
    EXPECT_EQ(r.failed, 0u) << c.file << ": " << r.error;
    EXPECT_EQ(freshness("replay"), c.fails ? "failed" : "fresh") << c.file;
  }
  // Replaying again updates the same entities.
  auto again = replay(default_config(Type::kSeoulCitydata, "replay"),
                      testing::read(testing::samples() / "seoul_citydata_POI009_20260826_EXCERPT.json"),
                      *hub_, *contexts_, catalog_.get());
  EXPECT_EQ(again.upserted, 6u);
  auto road = hub_->get("", "urn:ngsi-ld:RoadSegment:its:1000000301");
  ASSERT_TRUE(road && *road);
}

}  // namespace
}  // namespace cityroom::connectors
