#include "agent/external_engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

namespace drover::agent {

nlohmann::json ExternalEngineConfig(const nlohmann::json& config, int metrics_port) {
  nlohmann::json out = config.is_object() ? config : nlohmann::json::object();
  out["http"] = {{"enabled", true}, {"address", "127.0.0.1:" + std::to_string(metrics_port)}};
  out["metrics"] = {{"prometheus", nlohmann::json::object()}};
  return out;
}

std::optional<EngineCounts> ParseEngineMetrics(std::string_view text) {
  EngineCounts counts;
  bool found = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line[0] == '#') continue;
    size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    std::string_view name = line.substr(0, name_end);
    if (name.size() > 6 && name.substr(name.size() - 6) == "_total") {
      name.remove_suffix(6);
    }
    uint64_t* into = nullptr;
    if (name == "output_sent") into = &counts.processed;
    if (name == "processor_error" || name == "output_error") into = &counts.errors;
    if (into == nullptr) continue;
    // the value follows the labels (if any) and a space
    size_t value_at = line.find(' ', line[name_end] == '{' ? line.find('}', name_end) : name_end);
    if (value_at == std::string_view::npos) continue;
    std::string value(line.substr(value_at + 1));
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || v < 0) continue;
    *into += static_cast<uint64_t>(v);
    found = true;
  }
  if (!found) return std::nullopt;
  return counts;
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::optional<std::string> LoopbackGet(int port, const std::string& path, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto wait = [&](short events) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, left) == 1;
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::optional<std::string> body;
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  std::string answer;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if ((rc == 0 || errno == EINPROGRESS) && wait(POLLOUT) &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[8192];
    while (answer.size() < (8u << 20) && wait(POLLIN)) {
      ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      answer.append(buffer, static_cast<size_t>(n));
    }
    size_t head_end = answer.find("\r\n\r\n");
    if (answer.rfind("HTTP/1.", 0) == 0 && answer.size() > 12 && answer.compare(9, 3, "200") == 0 &&
        head_end != std::string::npos) {
      body = answer.substr(head_end + 4);
    }
  }
  ::close(fd);
  return body;
}

}  // namespace drover::agent
