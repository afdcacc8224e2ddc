// The client commands get, describe, delete, nodes and completion as an operator runs them:
// the real drover binary against a real controller on loopback, with a simulated fleet
// (`drover sim`) speaking the agent protocol; every -o format parsed back, the exit codes
// (0 success, 1 failure, 2 usage), profiles and the bash completion script run by bash. Also
// the pure output helpers (ages, timestamps, budgets, progress lines) by tables of cases.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "api/document.h"
#include "cli/output.h"
#include "tests/testing/controller_process.h"
#include "tests/testing/eventually.h"
#include "tests/testing/run_process.h"

namespace drover {
namespace {

using namespace std::chrono_literals;
using testing::ControllerProcess;
using testing::Eventually;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProcessResult;
using Json = nlohmann::json;

// The binary with no config file or environment of the user's in the way.
std::string Drover(const std::string& args) {
  return "env -u DROVER_ADDR -u DROVER_TOKEN -u DROVER_PROFILE DROVER_CONFIG=/nonexistent " +
         std::string(DROVER_BINARY) + " " + args;
}

Json PipelineSpec(const std::string& name, const std::string& ns, const std::string& role) {
  return {{"name", name},
          {"namespace", ns},
          {"type", "pipeline"},
          {"labels", {{"app", name}}},
          {"selector", {{"match_labels", {{"role", role}}}}},
          {"config",
           {{"input", {{"stdin", Json::object()}}}, {"output", {{"stdout", Json::object()}}}}},
          {"rollout",
           {{"strategy", "rolling"},
            {"max_parallel", 50},
            {"max_failed_nodes", 1},
            {"health_check",
             {{"deadline", "20s"},
              {"interval", "250ms"},
              {"success_threshold", 1},
              {"failure_threshold", 1}}}}}};
}

// One controller and four nodes simulated by `drover sim` processes for the whole suite:
// edge-00001..3 (role=edge) run the jobs, spare-00001 (role=spare) is cordoned and drained by the
// tests. Jobs: default/web and prod/api on the edge nodes, both rolled out; tests that change
// things use jobs of their own.
class ClientCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    controller_ = new ControllerProcess({"--heartbeat-interval", "250ms", "--resync", "2s"});
    ASSERT_TRUE(controller_->Start()) << controller_->log();
    log_dir_ = testing::MakeTempDir("drover-client-sim");
    for (auto [prefix, nodes] : {std::pair{"edge-", "3"}, std::pair{"spare-", "1"}}) {
      std::string role = std::string(prefix).substr(0, std::string(prefix).size() - 1);
      std::vector<std::string> argv = {
          DROVER_BINARY,    "sim",  "--server", controller_->url(), "--nodes",           nodes,
          "--id-prefix",    prefix, "--label",  "role=" + role,     "--health-interval", "250ms",
          "--report-every", "0s"};
      if (role == "edge") argv.insert(argv.end(), {"--label", "zone=a"});
      sims_.push_back(testing::SpawnLogged(argv, (log_dir_ / (role + ".log")).string()));
    }
    ASSERT_TRUE(Eventually([] {
      return controller_->Call("GET", "/api/v1/nodes?state=connected").Json()["items"].size() == 4;
    })) << controller_->log();
    for (auto [name, ns] : {std::pair{"web", "default"}, std::pair{"api", "prod"}}) {
      ASSERT_EQ(Put(PipelineSpec(name, ns, "edge")), 201);
      ASSERT_TRUE(Eventually([&] {
        return controller_->Call("GET", "/api/v1/jobs/" + std::string(name) + "?namespace=" + ns)
                   .Json()["job"]["status"]["rollout"]["phase"] == "succeeded";
      })) << controller_->log();
    }
  }
  static void TearDownTestSuite() {
    for (pid_t pid : sims_) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(log_dir_);
    delete controller_;
  }

  static int Put(const Json& spec) {
    return controller_->Call("PUT", "/api/v1/jobs", Json{{"spec", spec}}.dump()).status;
  }
  static ProcessResult Run(const std::string& args) {
    return testing::RunCommand(Drover(args + " --server " + controller_->url()));
  }

  static ControllerProcess* controller_;
  static std::vector<pid_t> sims_;
  static std::filesystem::path log_dir_;
};

ControllerProcess* ClientCommands::controller_ = nullptr;
std::vector<pid_t> ClientCommands::sims_;
std::filesystem::path ClientCommands::log_dir_;

// The lines of `text`.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The whitespace-separated cells of a table row.
std::vector<std::string> Cells(const std::string& row) {
  std::vector<std::string> cells;
  std::stringstream in(row);
  for (std::string cell; in >> cell;) cells.push_back(cell);
  return cells;
}

TEST_F(ClientCommands, GetJobsPrintsKubectlColumnsForOneNamespaceOrAll) {
  ProcessResult r = Run("get jobs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(Cells(lines[0]), (std::vector<std::string>{"NAME", "TYPE", "STATE", "VERSION", "STABLE",
                                                       "ROLLOUT", "AGE"}));
  std::vector<std::string> web = Cells(lines[1]);
  ASSERT_EQ(web.size(), 8u) << lines[1];
  EXPECT_EQ(web[0], "web");
  EXPECT_EQ(web[1], "pipeline");
  EXPECT_EQ(web[2], "running");
  EXPECT_EQ(web[3], "1");
  EXPECT_EQ(web[4], "1");
  EXPECT_EQ(web[5] + " " + web[6], "succeeded 2/2") << "3 nodes in waves of 50%";
  EXPECT_THAT(web[7], ::testing::MatchesRegex("[0-9]+[smhd]"));
  // The header and the cells line up.
  EXPECT_EQ(lines[0].find("TYPE"), lines[1].find("pipeline"));

  r = Run("get jobs -A");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  lines = Lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_EQ(Cells(lines[0])[0], "NAMESPACE");
  EXPECT_THAT(r.out, HasSubstr("prod "));
  EXPECT_THAT(r.out, HasSubstr("api "));

  r = Run("get job -n prod");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("api"));
  EXPECT_THAT(r.out, Not(HasSubstr("web")));
}

TEST_F(ClientCommands, EveryOutputFormatParses) {
  for (const std::string kind : {"jobs", "nodes", "executions web"}) {
    // -o table, given explicitly, is the default table.
    ProcessResult table = Run("get " + kind + " -o table");
    ASSERT_EQ(table.exit_code, 0) << kind << ": " << table.err;
    std::vector<std::string> rows = Lines(table.out);
    std::vector<std::string> default_rows = Lines(Run("get " + kind).out);
    ASSERT_GE(rows.size(), 2u) << kind << ": " << table.out;
    ASSERT_EQ(rows.size(), default_rows.size()) << kind << ": " << table.out;
    EXPECT_THAT(rows[0], ::testing::MatchesRegex("(NAME|ID) .*")) << kind;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(Cells(rows[i]).front(), Cells(default_rows[i]).front()) << kind;
      EXPECT_EQ(Cells(rows[i]).size(), Cells(default_rows[i]).size()) << kind;
    }

    ProcessResult json = Run("get " + kind + " -o json");
    ASSERT_EQ(json.exit_code, 0) << kind << ": " << json.err;
    Json parsed = Json::parse(json.out, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << json.out;
    ASSERT_TRUE(parsed["items"].is_array()) << json.out;
    EXPECT_FALSE(parsed["items"].empty()) << kind;

    ProcessResult yaml = Run("get " + kind + " -o yaml");
    ASSERT_EQ(yaml.exit_code, 0) << kind << ": " << yaml.err;
    Result<std::vector<Document>> docs = ParseYaml(yaml.out);
    ASSERT_TRUE(docs.ok()) << docs.status().message() << "\n" << yaml.out;
    ASSERT_EQ(docs->size(), 1u);
    EXPECT_EQ(docs->front().value["items"].size(), parsed["items"].size()) << kind;
  }
  // A job's durations read as text in YAML, as in a manifest; as nanoseconds in JSON.
  Json job = Json::parse(Run("get jobs web -o json").out)["spec"]["rollout"]["health_check"];
  EXPECT_EQ(job["deadline"], 20'000'000'000);
  Result<std::vector<Document>> one = ParseYaml(Run("get job web -o yaml").out);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->front().value["spec"]["name"], "web") << "one NAME: the object itself";
  EXPECT_EQ(one->front().value["spec"]["rollout"]["health_check"]["deadline"], "20s");

  EXPECT_EQ(Run("get jobs -o name").out, "web\n");
  EXPECT_THAT(Run("get jobs -A -o name").out, HasSubstr("prod/api\n"));
  EXPECT_EQ(Run("get nodes -o name").out, "edge-00001\nedge-00002\nedge-00003\nspare-00001\n");
  EXPECT_EQ(Lines(Run("get executions web -o name").out).size(), 3u);
}

TEST_F(ClientCommands, LabelSelectorsFilterAndABadOneIsTheControllersMessage) {
  ProcessResult r = Run("get jobs -A -l app=api -o name");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "prod/api\n");
  r = Run("get nodes -l 'role in (spare)' -o name");
  EXPECT_EQ(r.out, "spare-00001\n");
  r = Run("get jobs -l 'app in (web'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("invalid label selector"));
  EXPECT_EQ(r.out, "");
}

TEST_F(ClientCommands, AnEmptyListSaysSoOnStderrAndExitsZero) {
  ProcessResult r = Run("get jobs -n empty");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No jobs found in namespace empty.\n");
  r = Run("get jobs -n empty -o json");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(Json::parse(r.out), Json::parse(R"({"items": []})")) << "scripts still get a list";
  r = Run("get nodes -l role=none");
  EXPECT_EQ(r.err, "No nodes found.\n");
}

TEST_F(ClientCommands, GetNodesShowsStateSchedulingLabelsAndHeartbeats) {
  ProcessResult r = Run("get nodes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex(
                            "ID +STATE +SCHEDULABLE +LABELS +EXECUTIONS +LAST HEARTBEAT +VERSION"));
  EXPECT_THAT(lines[1],
              ::testing::MatchesRegex(
                  "edge-00001 +connected +yes +role=edge,zone=a +[2-9] +[0-9]+s ago +drover-sim"))
      << "two jobs run on each edge node";
}

TEST_F(ClientCommands, NodesCordonUncordonAndDrainShowInGetNodes) {
  auto schedulable = [] { return Cells(Lines(Run("get nodes spare-00001").out).at(1)).at(2); };
  ProcessResult r = Run("nodes cordon spare-00001");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "node spare-00001 cordoned\n");
  EXPECT_EQ(schedulable(), "cordoned");
  r = Run("nodes drain spare-00001");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "node spare-00001 draining\n");
  EXPECT_EQ(schedulable(), "draining");
  r = Run("nodes uncordon spare-00001");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "node spare-00001 uncordoned\n");
  EXPECT_EQ(schedulable(), "yes");

  r = Run("nodes cordon ghost-7");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("node ghost-7 not found"));
  r = Run("get nodes ghost-7");
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(ClientCommands, GetExecutionsListsAJobsExecutionsByNode) {
  ProcessResult r = Run("get executions web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(Cells(lines[0]), (std::vector<std::string>{"ID", "NODE", "VERSION", "STATE", "HEALTH",
                                                       "RESTARTS", "AGE"}));
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> row = Cells(lines[static_cast<size_t>(i) + 1]);
    ASSERT_EQ(row.size(), 7u) << lines[static_cast<size_t>(i) + 1];
    EXPECT_THAT(row[0], ::testing::StartsWith("e-"));
    EXPECT_EQ(row[1], "edge-0000" + std::to_string(i + 1));
    EXPECT_EQ(row[2], "1");
    EXPECT_EQ(row[3], "running");
    EXPECT_EQ(row[4], "healthy");
    EXPECT_EQ(row[5], "0");
  }
  EXPECT_EQ(Run("get ex --job api -n prod --node edge-00002 -o name").out.size(), 39u)
      << "one execution id and a newline";
  r = Run("get executions api");
  EXPECT_EQ(r.exit_code, 1) << "api lives in prod";
  EXPECT_THAT(r.err, HasSubstr("default/api not found"));
}

// SPEC §13: get executions [-n NS|-A] [-l SELECTOR] as for jobs: without a JOB, the executions of
// every job of the namespace (or of all of them) whose labels the selector matches.
TEST_F(ClientCommands, GetExecutionsWithoutAJobListsThoseOfTheSelectedJobs) {
  // -n: the namespace's jobs (prod holds api only), with a JOB column.
  ProcessResult r = Run("get executions -n prod");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(Cells(lines[0]), (std::vector<std::string>{"JOB", "ID", "NODE", "VERSION", "STATE",
                                                       "HEALTH", "RESTARTS", "AGE"}));
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> row = Cells(lines[i]);
    ASSERT_EQ(row.size(), 8u) << lines[i];
    EXPECT_EQ(row[0], "api");
    EXPECT_THAT(row[1], ::testing::StartsWith("e-"));
    EXPECT_EQ(row[2], "edge-0000" + std::to_string(i));
    EXPECT_EQ(row[4], "running");
  }
  EXPECT_EQ(lines[0].find("ID"), lines[1].find("e-")) << "the header and the cells line up";

  // -l selects jobs by their labels, in the profile's (here: the default) namespace.
  r = Run("get executions -l app=web -o name");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, Run("get executions web -o name").out);
  EXPECT_EQ(Lines(r.out).size(), 3u) << r.out;

  // -A: every namespace, with NAMESPACE and JOB first.
  r = Run("get executions -A -l 'app in (web,api)'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  EXPECT_EQ(Cells(lines[0]), (std::vector<std::string>{"NAMESPACE", "JOB", "ID", "NODE", "VERSION",
                                                       "STATE", "HEALTH", "RESTARTS", "AGE"}));
  std::map<std::string, std::vector<std::string>> nodes_of;  // "NS/JOB" -> nodes, as printed
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> row = Cells(lines[i]);
    ASSERT_EQ(row.size(), 9u) << lines[i];
    nodes_of[row[0] + "/" + row[1]].push_back(row[3]);
  }
  const std::vector<std::string> edge = {"edge-00001", "edge-00002", "edge-00003"};
  EXPECT_EQ(nodes_of, (std::map<std::string, std::vector<std::string>>{{"default/web", edge},
                                                                       {"prod/api", edge}}))
      << r.out;
  Json json = Json::parse(Run("get executions -A -l 'app in (web,api)' -o json").out);
  EXPECT_EQ(json["items"].size(), 6u);
  EXPECT_EQ(Lines(Run("get ex -A -l 'app in (web,api)' --node edge-00002 -o name").out).size(), 2u);

  // Nothing selected: said on stderr, exit 0; a bad selector is the controller's message.
  r = Run("get executions -l app=nothing");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No executions found in namespace default.\n");
  r = Run("get executions -A -l app=nothing");
  EXPECT_EQ(r.err, "No executions found.\n");
  r = Run("get executions -l 'app in (web'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("invalid label selector"));
}

TEST_F(ClientCommands, DescribeShowsSpecStatusRolloutExecutionsAndEvents) {
  ProcessResult r = Run("describe job web");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* expected :
       {"Name:             web\n", "Namespace:        default\n", "Type:             pipeline\n",
        "Selector:         role=edge\n", "Priority:         50\n", "Restart policy:   on-failure\n",
        "Strategy:         rolling, 50% of the nodes per wave; halts above 1 failed nodes",
        "Health check:     deadline 20s, interval 250ms, healthy after 1 windows",
        "Status:\n  State:          running\n  Version:        1\n  Stable version: 1\n"
        "  Failed version: -\n",
        "Rollout:\n  Phase:          succeeded\n  Versions:       (none) -> v1 (rolling)\n"
        "  Wave:           2/2\n",
        "  Nodes:          3 target, 3 updated, 3 healthy, 0 failed (budget 0), 0 skipped\n",
        "Executions:\n  v1:             3 running (3 healthy)\n", "Events:\n", "WaveStarted",
        "RolloutSucceeded"}) {
    EXPECT_THAT(r.out, HasSubstr(expected)) << r.out;
  }
  r = Run("describe job web --events 1");
  EXPECT_THAT(r.out, ::testing::MatchesRegex("(.|\n)*Events \\(the last 1 of [0-9]+\\):\n  AGE +"
                                             "TYPE +REASON +MESSAGE\n  [0-9]+[smhd] .*\n"));
  r = Run("describe job nope -n staging");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("job staging/nope not found"));
  EXPECT_EQ(r.out, "");
}

TEST_F(ClientCommands, DeleteStopsAJobThenPurgesIt) {
  ASSERT_EQ(Put(PipelineSpec("doomed", "default", "edge")), 201);
  ProcessResult r = Run("delete job doomed");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job default/doomed stopped\n");
  EXPECT_EQ(Json::parse(Run("get jobs doomed -o json").out)["status"]["state"], "stopped");
  EXPECT_THAT(Run("get jobs doomed").out, HasSubstr("stopped"));

  r = Run("delete job doomed --purge");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job default/doomed deleted\n");
  r = Run("get jobs doomed");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("job default/doomed not found"));

  r = Run("delete job doomed");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("doomed"));
  EXPECT_EQ(r.out, "");
}

TEST_F(ClientCommands, TheProfileGivesServerAndNamespaceAndFlagsWin) {
  std::filesystem::path dir = testing::MakeTempDir("drover-profile");
  std::ofstream(dir / "config.yaml") << "current-profile: prod\n"
                                     << "profiles:\n"
                                     << "  prod:\n"
                                     << "    server: " << controller_->url() << "\n"
                                     << "    namespace: prod\n"
                                     << "  elsewhere:\n"
                                     << "    server: http://127.0.0.1:1\n";
  std::string env = "DROVER_CONFIG=" + (dir / "config.yaml").string() + " ";
  const std::string bin = std::string(DROVER_BINARY);
  ProcessResult r = testing::RunCommand("env -u DROVER_ADDR " + env + bin + " get jobs -o name");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "api\n") << "the profile's namespace";
  r = testing::RunCommand("env -u DROVER_ADDR " + env + bin + " get jobs -n default -o name");
  EXPECT_EQ(r.out, "web\n");
  r = testing::RunCommand("env -u DROVER_ADDR " + env + bin +
                          " describe job api --profile elsewhere");
  EXPECT_EQ(r.exit_code, 1) << "nothing listens there";
  EXPECT_THAT(r.err, HasSubstr("cannot reach the controller at http://127.0.0.1:1"));
  r = testing::RunCommand("env -u DROVER_ADDR " + env + bin + " get jobs --profile nope");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("profile \"nope\""));
  r = testing::RunCommand("DROVER_CONFIG=/nonexistent DROVER_ADDR=" + controller_->url() + " " +
                          bin + " get jobs -o name");
  EXPECT_EQ(r.out, "web\n") << "DROVER_ADDR";
  std::filesystem::remove_all(dir);
}

// The config file at its default place, ~/.config/drover/config.yaml (HOME, no DROVER_CONFIG),
// or under $XDG_CONFIG_HOME, against a controller with auth on: the profile's server and token
// are what get and apply use, and a refused token exits 1 saying which token was sent.
TEST(ClientConfigFile, TheDefaultConfigFileGivesServerAndTokenToGetAndApply) {
  const std::string admin = "admin-token-0123456789abcdef";
  std::filesystem::path dir = testing::MakeTempDir("drover-home");
  std::ofstream(dir / "tokens") << admin << " admin\n";
  ControllerProcess controller(
      {"--store", "memory", "--auth-token-file", (dir / "tokens").string()});
  ASSERT_TRUE(controller.Start()) << controller.log();
  ASSERT_EQ(controller.Call("GET", "/api/v1/jobs").status, 401) << "auth is on";

  const std::filesystem::path home = dir / "home";
  std::filesystem::create_directories(home / ".config/drover");
  std::ofstream(home / ".config/drover/team.token") << admin << "\n";
  const std::string config_file = (home / ".config/drover/config.yaml").string();
  std::ofstream(config_file) << "current-profile: team\n"
                             << "profiles:\n"
                             << "  team:\n"
                             << "    server: " << controller.url() << "\n"
                             << "    token-file: ~/.config/drover/team.token\n"
                             << "  inline:\n"
                             << "    server: " << controller.url() << "\n"
                             << "    token: " << admin << "\n"
                             << "  wrong:\n"
                             << "    server: " << controller.url() << "\n"
                             << "    token: not-the-token-0123456789\n";
  std::ofstream(dir / "job.yaml") << "name: from-home\ntype: update\n"
                                  << "config: {command: [\"/bin/true\"]}\n";
  const std::string job = (dir / "job.yaml").string();
  // No flag, no DROVER_* variable, no XDG_CONFIG_HOME: only HOME says where the file is.
  const std::string env =
      "env -u DROVER_ADDR -u DROVER_TOKEN -u DROVER_PROFILE -u DROVER_CONFIG "
      "-u XDG_CONFIG_HOME HOME=" +
      home.string() + " ";
  const std::string bin = std::string(DROVER_BINARY) + " ";

  ProcessResult r = testing::RunCommand(env + bin + "apply -f " + job);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "default/from-home created\n");
  testing::HttpReply stored =
      controller.Call("GET", "/api/v1/jobs/from-home", "", {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(stored.status, 200) << stored.body;
  r = testing::RunCommand(env + bin + "get jobs -o name");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-home\n");
  r = testing::RunCommand(env + bin + "get jobs -o name --profile inline");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-home\n");

  // A refused token: exit 1, the controller's reason and where the token came from.
  r = testing::RunCommand(env + bin + "get jobs --profile wrong");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "drover get: listing jobs: invalid bearer token (the token sent is from profile "
            "\"wrong\" in " +
                config_file + ")\n");
  r = testing::RunCommand(env + bin + "apply -f " + job + " --profile wrong");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("drover apply: default/from-home: invalid bearer token (the token "
                               "sent is from profile \"wrong\""));
  r = testing::RunCommand(env + bin + "get jobs --server " + controller.url() + " --token ''");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("(no token was sent: give --token, set $DROVER_TOKEN or a "
                               "profile's token)"));

  // $XDG_CONFIG_HOME/drover/config.yaml comes before ~/.config; --token before the profile's.
  const std::filesystem::path xdg = dir / "xdg";
  std::filesystem::create_directories(xdg / "drover");
  std::ofstream(xdg / "drover/config.yaml") << "current-profile: wrong\nprofiles:\n  wrong:\n"
                                            << "    server: " << controller.url() << "\n"
                                            << "    token: not-the-token-0123456789\n";
  const std::string with_xdg = env + "XDG_CONFIG_HOME=" + xdg.string() + " ";
  r = testing::RunCommand(with_xdg + bin + "get jobs -o name");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr("in " + (xdg / "drover/config.yaml").string()));
  r = testing::RunCommand(with_xdg + bin + "get jobs -o name --token " + admin);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from-home\n");
  std::filesystem::remove_all(dir);
}

TEST(ClientCommandsUsage, UsageErrorsExitTwoWithTheUsageAndHelpExitsZero) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"get", "get"},
      {"get widgets", "get"},
      {"get jobs --bogus", "get"},
      {"get jobs -o xml", "get"},
      {"get jobs -n", "get"},
      {"get jobs web -A", "get"},
      {"get executions -l a=b web", "get"},
      {"get executions --job web -l a=b", "get"},
      {"get executions web -A", "get"},
      {"get executions a b", "get"},
      {"describe", "describe"},
      {"describe node n1", "describe"},
      {"describe job", "describe"},
      {"describe job a b", "describe"},
      {"describe job a --events x", "describe"},
      {"rollout", "rollout"},
      {"rollout frobnicate web", "rollout"},
      {"rollout status", "rollout"},
      {"rollout status web --timeout 5s", "rollout"},
      {"rollout status web --watch --timeout soon", "rollout"},
      {"rollout pause web --to-version 2", "rollout"},
      {"rollout rollback web --to-version zero", "rollout"},
      {"rollout pause web -o json", "rollout"},
      {"delete", "delete"},
      {"delete job", "delete"},
      {"delete node n1", "delete"},
      {"delete job web --purge=yes", "delete"},
      {"nodes", "nodes"},
      {"nodes reboot n1", "nodes"},
      {"nodes cordon", "nodes"},
      {"completion", "completion"},
      {"completion zsh", "completion"},
  };
  for (const auto& [args, command] : cases) {
    ProcessResult r = testing::RunCommand(Drover(args));
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("drover " + command + ": ")) << args;
    EXPECT_THAT(r.err, HasSubstr("Usage: drover " + command)) << args;
    EXPECT_EQ(r.out, "") << args;
  }
  for (const char* command : {"get", "describe", "rollout", "delete", "nodes", "completion"}) {
    for (const char* help : {"--help", "-h"}) {
      ProcessResult r = testing::RunCommand(Drover(std::string(command) + " " + help));
      EXPECT_EQ(r.exit_code, 0) << command;
      EXPECT_THAT(r.out, HasSubstr("Usage: drover " + std::string(command))) << command;
      EXPECT_EQ(r.err, "") << command;
    }
  }
  EXPECT_THAT(testing::RunCommand(Drover("get --help")).out, HasSubstr("--profile NAME"));
  ProcessResult bad_server = testing::RunCommand(Drover("get jobs --server ftp://x"));
  EXPECT_EQ(bad_server.exit_code, 2);
  EXPECT_THAT(bad_server.err, HasSubstr("--server"));
}

TEST(ClientCommandsUsage, AnUnreachableControllerExitsOneSayingWhere) {
  std::string server = "http://127.0.0.1:" + std::to_string(testing::FreePort());
  for (const char* args : {"get jobs", "describe job web", "rollout status web",
                           "rollout pause web", "delete job web", "nodes cordon n1"}) {
    ProcessResult r = testing::RunCommand(Drover(std::string(args) + " --server " + server));
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_THAT(r.err, HasSubstr("cannot reach the controller at " + server)) << args;
  }
}

// Runs the completion script in bash for the line `line` (the cursor at its end) and returns
// the candidates, one per line.
std::string Complete(const std::string& line, const std::string& env = "") {
  std::filesystem::path dir = testing::MakeTempDir("drover-completion");
  std::ofstream(dir / "drover.bash") << testing::RunCommand(Drover("completion bash")).out;
  std::ofstream(dir / "run.sh") << "source " << (dir / "drover.bash").string() << "\n"
                                << "COMP_LINE=\"$1\"; COMP_POINT=${#COMP_LINE}\n"
                                << "read -ra COMP_WORDS <<<\"$COMP_LINE\"\n"
                                << "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
                                << "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('') && "
                                   "COMP_CWORD=$((COMP_CWORD + 1))\n"
                                << "_drover\n"
                                << "((${#COMPREPLY[@]})) && printf '%s\\n' \"${COMPREPLY[@]}\"\n";
  ProcessResult r =
      testing::RunCommand(env + " bash " + (dir / "run.sh").string() + " '" + line + "'");
  std::filesystem::remove_all(dir);
  return r.out;
}

TEST_F(ClientCommands, TheBashCompletionScriptParsesAndCompletes) {
  ProcessResult script = testing::RunCommand(Drover("completion bash"));
  ASSERT_EQ(script.exit_code, 0);
  ProcessResult syntax = testing::RunCommand("bash -n", script.out);
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
  EXPECT_THAT(script.out, HasSubstr("complete -F _drover drover"));

  EXPECT_EQ(Complete("drover ro"), "rollout\n");
  EXPECT_EQ(Complete("drover rollout st"), "status\n");
  EXPECT_EQ(Complete("drover get "), "jobs\nnodes\nexecutions\n");
  EXPECT_EQ(Complete("drover get jobs -o "), "table\njson\nyaml\nname\n");
  EXPECT_EQ(Complete("drover nodes dr"), "drain\n");
  EXPECT_THAT(Complete("drover rollout status web --w"), "--watch\n");
  EXPECT_THAT(Complete("drover delete job web --p"), "--purge\n--profile\n");
  EXPECT_EQ(Complete("drover diff -f x.yaml --e"), "--exit-code\n");
  // Names come from the controller, with the server (a URL with colons) and namespace of the
  // line.
  const std::string bin = std::string(DROVER_BINARY);
  EXPECT_EQ(Complete(bin + " describe job --server " + controller_->url() + " w"), "web\n");
  EXPECT_EQ(Complete(bin + " rollout status -n prod --server " + controller_->url() + " "),
            "api\n");
  EXPECT_EQ(Complete(bin + " nodes cordon sp", "DROVER_ADDR=" + controller_->url()),
            "spare-00001\n");
  EXPECT_EQ(Complete(bin + " describe job x", "DROVER_ADDR=http://127.0.0.1:1"), "")
      << "no controller: no names, no noise";
}

// ---- the pure output helpers ----

TEST(ClientOutput, Rfc3339TimestampsParseWithFractionsAndOffsets) {
  using std::chrono::system_clock;
  auto at = [](const char* text) {
    std::optional<cli::WallTime> t = cli::ParseRfc3339(text);
    return t ? std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count()
             : -1;
  };
  EXPECT_EQ(at("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(at("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(at("2024-05-01T12:00:00.123Z"), 1714564800123);
  EXPECT_EQ(at("2024-05-01T14:00:00.123+02:00"), 1714564800123);
  EXPECT_EQ(at("2024-05-01T10:30:00-01:30"), 1714564800000);
  for (const char* bad :
       {"", "2024-05-01", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
        "2024-05-01T12:00:00.Z", "yesterday", "2024-05-01T12:00:00Zjunk"}) {
    EXPECT_EQ(at(bad), -1) << bad;
  }
}

TEST(ClientOutput, AgesAreKubectlsShortForms) {
  using namespace std::chrono;
  const std::vector<std::pair<system_clock::duration, std::string>> cases = {
      {-5s, "0s"},         {0s, "0s"},        {59s, "59s"},     {60s, "1m"}, {3min + 59s, "3m"},
      {59min, "59m"},      {1h, "1h"},        {23h, "23h"},     {24h, "1d"}, {96h, "4d"},
      {24h * 364, "364d"}, {24h * 365, "1y"}, {24h * 800, "2y"}};
  for (const auto& [age, text] : cases) EXPECT_EQ(cli::FormatAge(age), text);
  auto now = *cli::ParseRfc3339("2024-05-01T12:00:00Z");
  EXPECT_EQ(cli::AgeOf("2024-05-01T11:57:00.000Z", now), "3m");
  EXPECT_EQ(cli::AgeOf(nullptr, now), "<unknown>");
  EXPECT_EQ(cli::AgeOf("soon", now), "<unknown>");
}

TEST(ClientOutput, TheFailureBudgetIsTheLowerOfNodesAndPercent) {
  auto policy = [](int nodes, double percent) {
    return Json{{"max_failed_nodes", nodes}, {"max_failed_nodes_percent", percent}};
  };
  EXPECT_EQ(cli::FailureBudget(policy(10, 10), 50), 5);
  EXPECT_EQ(cli::FailureBudget(policy(2, 10), 50), 2);
  EXPECT_EQ(cli::FailureBudget(policy(10, 10), 3), 0) << "one node of 3 is 33%";
  EXPECT_EQ(cli::FailureBudget(policy(10, 100), 3), 3);
  EXPECT_EQ(cli::FailureBudget(policy(0, 50), 20), 0);
  EXPECT_EQ(cli::FailureBudget(policy(5, 12.5), 8), 1);
  EXPECT_EQ(cli::FailureBudget(Json(), 100), 10) << "the defaults: 10 nodes, 10%";
}

TEST(ClientOutput, RolloutsReadAsOneLineAndABar) {
  Json rollout = {{"phase", "progressing"}, {"current_wave", 2},   {"total_waves", 5},
                  {"target_nodes", 50},     {"updated_nodes", 20}, {"healthy_nodes", 18},
                  {"failed_nodes", 1},      {"skipped_nodes", 0}};
  EXPECT_EQ(cli::RolloutLine(rollout, 5),
            "progressing: wave 2/5, 20/50 nodes updated, 18 healthy, 1 failed (budget 5)");
  rollout["skipped_nodes"] = 3;
  EXPECT_EQ(cli::RolloutLine(rollout, -1),
            "progressing: wave 2/5, 20/50 nodes updated, 18 healthy, 1 failed, 3 skipped");
  EXPECT_EQ(cli::RolloutColumn(rollout), "progressing 2/5");
  EXPECT_EQ(cli::RolloutColumn(nullptr), "-");
  EXPECT_EQ(cli::ProgressBar(20, 50, 10), "[####------]");
  EXPECT_EQ(cli::ProgressBar(0, 0, 4), "[----]");
  EXPECT_EQ(cli::ProgressBar(60, 50, 4), "[####]");
}

TEST(ClientOutput, TablesPadColumnsLikeKubectl) {
  cli::Table table({"NAME", "STATE", "AGE"});
  table.AddRow({"web", "running", "5s"});
  table.AddRow({"a-long-name", "", "3m"});
  std::stringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME          STATE     AGE\n"
            "web           running   5s\n"
            "a-long-name   <none>    3m\n");
}

TEST(ClientOutput, FlagsParseLongShortAndEqualsForms) {
  std::vector<cli::FlagDef> flags = {{"--namespace", "-n", true}, {"--watch", "-w", false}};
  Result<cli::ParsedArgs> a =
      cli::ParseArgs({"status", "-n", "prod", "web", "-w", "--server=http://h:1"}, flags);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->positional, (std::vector<std::string>{"status", "web"}));
  EXPECT_EQ(a->Value("--namespace"), "prod");
  EXPECT_TRUE(a->Has("--watch"));
  EXPECT_EQ(a->client.server, "http://h:1");
  a = cli::ParseArgs({"--namespace=x", "--", "-w"}, flags);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->Value("--namespace"), "x");
  EXPECT_EQ(a->positional, (std::vector<std::string>{"-w"}));
  EXPECT_EQ(cli::ParseArgs({"--bogus"}, flags).status().message(), "unknown flag \"--bogus\"");
  EXPECT_EQ(cli::ParseArgs({"-n"}, flags).status().message(), "-n needs a value");
  EXPECT_EQ(cli::ParseArgs({"--watch=yes"}, flags).status().message(), "--watch takes no value");
  EXPECT_TRUE(cli::ParseArgs({"x", "--help", "--bogus"}, flags)->help);
}

}  // namespace
}  // namespace drover
