// `drover dev`: the real binary runs a controller and three agents in one process; the seed's
// example deploys onto the two matching nodes and runs; SIGTERM ends everything, children too.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "tests/testing/eventually.h"
#include "tests/testing/http_client.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using testing::Eventually;

// Processes whose command line mentions `text`.
int CountProcesses(const std::string& text) {
  int count = 0;
  DIR* proc = opendir("/proc");
  while (dirent* entry = proc ? readdir(proc) : nullptr) {
    if (std::atoi(entry->d_name) <= 0) continue;
    std::string cmdline = testing::ReadAll(std::string("/proc/") + entry->d_name + "/cmdline");
    if (cmdline.find(text) != std::string::npos) ++count;
  }
  if (proc) closedir(proc);
  return count;
}

TEST(DevCommand, RunsAClusterThatDeploysTheSeedExampleAndStopsCleanly) {
  const fs::path dir = testing::MakeTempDir("drover-dev");
  const int port = testing::FreePort();
  const std::string log = (dir / "dev.log").string();
  const pid_t pid = testing::SpawnLogged(
      {DROVER_BINARY, "dev", "--nodes", "3", "--listen", "127.0.0.1:" + std::to_string(port),
       "--data-dir", (dir / "data").string(), "--heartbeat-interval", "500ms"},
      log);
  auto call = [&](const std::string& method, const std::string& path,
                  const std::string& body = "") { return testing::Http(port, method, path, body); };
  // the "items" of a list answer; empty while the server is not up
  auto items = [&](const std::string& path) {
    Json reply = call("GET", path).Json();
    return reply.is_object() && reply.contains("items") ? reply["items"] : Json::array();
  };
  ASSERT_TRUE(Eventually([&] { return items("/api/v1/nodes?state=connected").size() == 3; }))
      << testing::ReadAll(log);

  // the seed's example as written, its paths pointed at a test folder
  Json spec = Json::parse(
      testing::ReadAll(std::string(DROVER_SOURCE_DIR) + "/manifests/seed/seed-log-processor.json"));
  fs::create_directories(dir / "logs");
  std::ofstream(dir / "logs" / "app.log") << "{\"msg\":\"hello from the tour\"}\n";
  spec["config"]["input"]["file"]["paths"] = {(dir / "logs" / "*.log").string()};
  testing::HttpReply put = call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump());
  ASSERT_TRUE(put.status == 200 || put.status == 201) << put.body;

  // dev-1 and dev-2 match env=production, role=app-server; dev-3 does not
  auto running_on = [&] {
    std::set<std::string> nodes;
    const Json executions = items("/api/v1/jobs/log-processor/executions?namespace=production");
    for (const Json& e : executions) {
      if (e.value("state", "") == "running") nodes.insert(e.value("node_id", ""));
    }
    return nodes;
  };
  ASSERT_TRUE(Eventually([&] {
    return running_on() == std::set<std::string>{"dev-1", "dev-2"};
  })) << testing::ReadAll(log);
  std::string out;
  ASSERT_TRUE(Eventually([&] {
    out.clear();
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir / "data" / "nodes", ec)) {
      if (e.path().filename() == "stdout.log") out += testing::ReadAll(e.path());
    }
    return out.find("processed_at") != std::string::npos;
  })) << testing::ReadAll(log);
  EXPECT_NE(out.find("hello from the tour"), std::string::npos) << out;
  EXPECT_GE(CountProcesses((dir / "data").string()), 2);  // the two engines

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status)) << testing::ReadAll(log);
  EXPECT_EQ(WEXITSTATUS(status), 0) << testing::ReadAll(log);
  EXPECT_EQ(CountProcesses((dir / "data").string()), 0) << "a child outlived drover dev";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace drover
