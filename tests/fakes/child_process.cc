#include "tests/fakes/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace enrich::testing {
namespace {

// In the child, between fork and exec: only async-signal-safe calls.
void Redirect(const std::string& path, int fd, int flags) {
  const char* name = path.empty() ? "/dev/null" : path.c_str();
  const int opened = ::open(name, flags, 0644);
  if (opened < 0) ::_exit(126);
  if (opened != fd) {
    ::dup2(opened, fd);
    ::close(opened);
  }
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Start(const ChildSpec& spec) {
  // argv and the environment are built before fork: the child may not allocate.
  std::vector<std::string> env_text;
  for (const auto& [name, value] : spec.env) env_text.push_back(absl::StrCat(name, "=", value));
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec.program.c_str()));
  for (const std::string& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    bool replaced = false;
    for (const auto& [name, value] : spec.env) {
      replaced = replaced || (std::strncmp(*e, name.c_str(), name.size()) == 0 &&
                              (*e)[name.size()] == '=');
    }
    if (!replaced) envp.push_back(*e);
  }
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    Redirect(spec.stdin_path, 0, O_RDONLY);
    Redirect(spec.stdout_path, 1, O_WRONLY | O_CREAT | O_TRUNC);
    Redirect(spec.stderr_path, 2, O_WRONLY | O_CREAT | O_TRUNC);
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) ::_exit(126);
    ::execve(spec.program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  return ChildProcess(pid);
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) {
      Signal(SIGKILL);
      Wait();
    }
    pid_ = std::exchange(other.pid_, -1);
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    Signal(SIGKILL);
    Wait();
  }
}

int ChildProcess::Decode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

int ChildProcess::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  killed_by_signal_ = r >= 0 && WIFSIGNALED(status);
  return r < 0 ? -1 : Decode(status);
}

std::optional<int> ChildProcess::Poll() {
  if (pid_ <= 0) return -1;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  pid_ = -1;
  killed_by_signal_ = r > 0 && WIFSIGNALED(status);
  return r < 0 ? -1 : Decode(status);
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

absl::StatusOr<int> RunChild(const ChildSpec& spec) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(spec);
  if (!child.ok()) return child.status();
  return child->Wait();
}

CommandResult RunCommandLine(const std::string& program, const std::string& args) {
  CommandResult r;
  const std::string cmd = program + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace enrich::testing
