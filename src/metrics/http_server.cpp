#include "metrics/http_server.hpp"

#include <httplib.h>
#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace tcptrail::metrics {

namespace {

constexpr size_t kWorkers = 4;
// Accepted connections waiting for a worker. When full, the accepting thread
// waits, and further clients queue in the kernel's listen backlog instead.
constexpr size_t kMaxPending = 64;
constexpr time_t kIoTimeoutS = 2;     // per read / write: a slow client holds a worker at most this long
constexpr int kListenBacklog = 1024;  // the kernel caps it at net.core.somaxconn

// httplib's own pool queues without limit; this one is bounded.
class BoundedPool : public httplib::TaskQueue {
public:
    BoundedPool() {
        for (size_t i = 0; i < kWorkers; ++i) threads_.emplace_back([this] { work(); });
    }
    void enqueue(std::function<void()> fn) override {
        std::unique_lock lock(mu_);
        room_.wait(lock, [this] { return jobs_.size() < kMaxPending; });
        jobs_.push_back(std::move(fn));
        ready_.notify_one();
    }
    void shutdown() override {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        ready_.notify_all();
        for (auto& t : threads_) t.join();
    }

private:
    void work() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mu_);
                ready_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
                if (jobs_.empty()) return;  // stopping, and every accepted socket was served
                job = std::move(jobs_.front());
                jobs_.pop_front();
                room_.notify_one();
            }
            job();
        }
    }
    std::mutex mu_;
    std::condition_variable ready_, room_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    bool stop_ = false;
};

constexpr const char* kIndex =
    "<html><head><title>tcptrail</title></head><body><h1>tcptrail</h1>"
    "<p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

}  // namespace

struct MetricsServer::Impl {
    httplib::Server http;
    std::thread thread;
    std::mutex mu;
    std::shared_ptr<const std::string> text = std::make_shared<const std::string>();
    std::atomic<bool> scrape_requested{false};
    std::atomic<uint64_t> scrapes{0};
};

MetricsServer::MetricsServer(const ListenAddress& addr) : impl_(std::make_unique<Impl>()) {
    auto& http = impl_->http;
    http.new_task_queue = [] { return new BoundedPool; };
    http.set_read_timeout(kIoTimeoutS, 0);
    http.set_write_timeout(kIoTimeoutS, 0);
    // One request per connection: an idle keep-alive connection would hold a worker.
    http.set_keep_alive_max_count(1);
    http.set_payload_max_length(8192);
    Impl* impl = impl_.get();
    http.Get("/metrics", [impl](const httplib::Request&, httplib::Response& res) {
        std::shared_ptr<const std::string> text;
        {
            std::lock_guard lock(impl->mu);
            text = impl->text;
        }
        impl->scrape_requested.store(true, std::memory_order_relaxed);
        impl->scrapes.fetch_add(1, std::memory_order_relaxed);
        res.set_content(*text, "text/plain; version=0.0.4; charset=utf-8");
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kIndex, "text/html"); });
    // cpp-httplib's default is SO_REUSEPORT, under which a second tcptrail on the
    // same port would bind too and take half the scrapes. SO_REUSEADDR only lets
    // a restart bind beside the last run's TIME_WAIT connections.
    // It also names the socket, the last one tried being the one bound.
    socket_t bound = INVALID_SOCKET;
    http.set_socket_options([&bound](socket_t sock) {
        const int yes = 1;
        (void)setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        bound = sock;
    });
    if (!http.bind_to_port(addr.host, addr.port)) {
        throw ServerError(
            fmt::format("--metrics {}: cannot listen there (address in use, or not an address of "
                        "this host)",
                        addr.display()));
    }
    // cpp-httplib listens with a backlog of 5 (built into Debian's library): a
    // burst of scrapers overflowed it, and each dropped handshake waited 1, 3,
    // 7... s to retry. listen() again only raises the backlog.
    if (bound != INVALID_SOCKET) (void)::listen(bound, kListenBacklog);
}

MetricsServer::~MetricsServer() {
    // stop() only acts on a running server: give a just-started thread a moment to get there.
    for (int i = 0; i < 1000 && impl_->thread.joinable() && !impl_->http.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    impl_->http.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

void MetricsServer::start() {
    // The serving threads (and the workers they start) must not take the
    // tracer's stop signals: the main thread is the one waiting for them.
    sigset_t stop_signals, old;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
    try {
        impl_->thread = std::thread([impl = impl_.get()] { impl->http.listen_after_bind(); });
    } catch (const std::system_error& e) {  // e.g. a pids cgroup limit
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw ServerError(fmt::format("cannot start the metrics server: {}", e.what()));
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void MetricsServer::publish(std::shared_ptr<const std::string> text) {
    {
        std::lock_guard lock(impl_->mu);
        impl_->text.swap(text);
    }
    // `text` now holds the previous exposition: freed here, outside the lock.
}

bool MetricsServer::take_scrape_request() { return impl_->scrape_requested.exchange(false, std::memory_order_relaxed); }

uint64_t MetricsServer::scrapes() const { return impl_->scrapes.load(std::memory_order_relaxed); }

}  // namespace tcptrail::metrics
