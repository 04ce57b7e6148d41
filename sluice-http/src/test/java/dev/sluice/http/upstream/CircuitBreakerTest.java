package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** An endpoint's circuit breaker: CLOSED, OPEN, HALF_OPEN and back. */
class CircuitBreakerTest {
  private JdkBackend backend;
  private UpstreamGroup group;

  @BeforeEach
  void setUp() throws Exception {
    backend = new JdkBackend("backend");
    // 50% of at least 4 calls in 10 s opens it for 500 ms; 2 trial calls.
    group = UpstreamGroup.builder().name("breaker").endpoints(List.of(backend.endpoint()))
        .circuitBreaker(50, 4, Duration.ofSeconds(10), Duration.ofMillis(500), 2)
        .build();
  }

  @AfterEach
  void tearDown() {
    group.close();
    backend.close();
  }

  private CircuitState state() {
    return Calls.status(group, backend.endpoint()).circuit();
  }

  private void send(int n, int expectedStatus) {
    for (int i = 0; i < n; i++) {
      assertThat(Calls.send(group, Calls.get("/call")).status()).isEqualTo(expectedStatus);
    }
  }

  private void open() {
    backend.status = 500;
    send(4, 500);
    assertThat(state()).isEqualTo(CircuitState.OPEN);
  }

  @Test
  void judgesOnlyOnceTheMinimumCallsAreIn() {
    backend.status = 500;
    send(3, 500);
    assertThat(state()).as("3 failures of 3, but fewer than 4 calls").isEqualTo(CircuitState.CLOSED);
    backend.status = 200;
    send(1, 200);
    assertThat(backend.requests.get()).isEqualTo(4);
    assertThat(state()).as("3 failures of 4: 75%").isEqualTo(CircuitState.OPEN);
  }

  @Test
  void staysClosedBelowTheFailureRate() {
    backend.status = 500;
    send(1, 500);
    backend.status = 200;
    send(5, 200);
    assertThat(state()).isEqualTo(CircuitState.CLOSED);
  }

  @Test
  void opensFailsFastHalfOpensAndClosesAfterGoodTrials() {
    open();
    UpstreamException e = Calls.failure(group.send(Calls.get("/call")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.CIRCUIT_OPEN);
    assertThat(e.reachedUpstream()).isFalse();
    assertThat(e.endpoint()).isEqualTo(backend.endpoint());
    assertThat(backend.requests.get()).as("the open circuit kept the call away").isEqualTo(4);

    backend.status = 200;
    Await.until("half-open", Duration.ofSeconds(5), () -> state() == CircuitState.HALF_OPEN);
    send(1, 200);
    assertThat(state()).as("one good trial of two").isEqualTo(CircuitState.HALF_OPEN);
    send(1, 200);
    assertThat(state()).isEqualTo(CircuitState.CLOSED);
    send(5, 200);
    assertThat(backend.requests.get()).isEqualTo(11);
  }

  @Test
  void failedTrialsReopen() {
    open();
    Await.until("half-open", Duration.ofSeconds(5), () -> state() == CircuitState.HALF_OPEN);
    send(2, 500);
    assertThat(state()).isEqualTo(CircuitState.OPEN);
    assertThat(Calls.failure(group.send(Calls.get("/call"))).kind())
        .isEqualTo(UpstreamException.Kind.CIRCUIT_OPEN);
    assertThat(backend.requests.get()).isEqualTo(6);
  }

  @Test
  void halfOpenLetsOnlyTheTrialCallsThrough() {
    open();
    backend.status = 200;
    backend.holding = true;
    Await.until("half-open", Duration.ofSeconds(5), () -> state() == CircuitState.HALF_OPEN);
    List<CompletableFuture<UpstreamResponse>> trials = new ArrayList<>();
    trials.add(group.send(Calls.get("/trial")));
    trials.add(group.send(Calls.get("/trial")));
    Await.until("both trials at the backend", Duration.ofSeconds(5),
        () -> backend.inFlight.get() == 2);
    assertThat(Calls.failure(group.send(Calls.get("/third"))).kind())
        .isEqualTo(UpstreamException.Kind.CIRCUIT_OPEN);
    backend.release();
    for (CompletableFuture<UpstreamResponse> f : trials) {
      assertThat(Calls.answer(f).status()).isEqualTo(200);
    }
    assertThat(state()).isEqualTo(CircuitState.CLOSED);
  }

  @Test
  void anOpenCircuitSendsTrafficToTheOtherEndpoints() throws Exception {
    JdkBackend other = new JdkBackend("other");
    try (UpstreamGroup two = UpstreamGroup.builder().name("breaker-two")
        .endpoints(List.of(backend.endpoint(), other.endpoint()))
        .circuitBreaker(50, 2, Duration.ofSeconds(10), Duration.ofSeconds(30), 1)
        .build()) {
      backend.status = 500;
      for (int i = 0; i < 4; i++) {
        Calls.send(two, Calls.get("/x"));
      }
      assertThat(Calls.status(two, backend.endpoint()).circuit()).isEqualTo(CircuitState.OPEN);
      int before = backend.requests.get();
      for (int i = 0; i < 10; i++) {
        assertThat(Calls.send(two, Calls.get("/x")).endpoint()).isEqualTo(other.endpoint());
      }
      assertThat(backend.requests.get()).isEqualTo(before);
    } finally {
      other.close();
    }
  }
}
