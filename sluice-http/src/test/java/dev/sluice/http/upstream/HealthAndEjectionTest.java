package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Active health checks and passive ejection take endpoints out of rotation and back. */
class HealthAndEjectionTest {
  private final List<JdkBackend> backends = new ArrayList<>();
  private UpstreamGroup group;

  @AfterEach
  void tearDown() {
    if (group != null) {
      group.close();
    }
    backends.forEach(JdkBackend::close);
  }

  private JdkBackend backend(String name) throws Exception {
    JdkBackend b = new JdkBackend(name);
    backends.add(b);
    return b;
  }

  private void send(int n) {
    for (int i = 0; i < n; i++) {
      Calls.send(group, Calls.get("/work"));
    }
  }

  @Test
  void aFailingHealthCheckTakesTheBackendOutAndAPassingOneBringsItBack() throws Exception {
    JdkBackend sick = backend("sick");
    JdkBackend well = backend("well");
    sick.healthStatus = 503;
    group = UpstreamGroup.builder().name("health")
        .endpoints(List.of(sick.endpoint(), well.endpoint()))
        .healthCheck(new HealthCheck("/health", Duration.ofMillis(50), Duration.ofMillis(500),
            2, 3))
        .build();
    Await.until("the sick backend unhealthy", Duration.ofSeconds(5),
        () -> !Calls.status(group, sick.endpoint()).healthy());
    assertThat(sick.healthRequests.get()).as("checks before giving up on it")
        .isGreaterThanOrEqualTo(3);
    assertThat(Calls.status(group, well.endpoint()).healthy()).isTrue();
    assertThat(sick.requests.get()).as("health checks are not counted as traffic").isZero();

    send(20);
    assertThat(sick.requests.get()).as("no traffic while unhealthy").isZero();
    assertThat(well.requests.get()).isEqualTo(20);

    sick.healthStatus = 200;
    int checksBefore = sick.healthRequests.get();
    Await.until("the sick backend healthy again", Duration.ofSeconds(5),
        () -> Calls.status(group, sick.endpoint()).healthy());
    assertThat(sick.healthRequests.get() - checksBefore).isGreaterThanOrEqualTo(2);
    send(20);
    assertThat(sick.requests.get()).isEqualTo(10);
  }

  @Test
  void everyEndpointUnhealthyMeansNoHealthyEndpoint() throws Exception {
    JdkBackend sick = backend("sick");
    sick.healthStatus = 500;
    group = UpstreamGroup.builder().name("all-sick").endpoints(List.of(sick.endpoint()))
        .healthCheck(new HealthCheck("/health", Duration.ofMillis(30), Duration.ofMillis(500),
            1, 1))
        .build();
    Await.until("unhealthy", Duration.ofSeconds(5),
        () -> !Calls.status(group, sick.endpoint()).healthy());
    UpstreamException e = Calls.failure(group.send(Calls.get("/x")));
    assertThat(e.kind()).isEqualTo(UpstreamException.Kind.NO_HEALTHY_ENDPOINT);
    assertThat(e.reachedUpstream()).isFalse();
    assertThat(sick.requests.get()).isZero();
  }

  @Test
  void aBackendAnswering500IsEjectedAfterConsecutiveFailures() throws Exception {
    JdkBackend bad = backend("bad");
    JdkBackend good = backend("good");
    bad.status = 500;
    group = UpstreamGroup.builder().name("eject")
        .endpoints(List.of(bad.endpoint(), good.endpoint()))
        .passiveEjection(3, Duration.ofSeconds(30), 50)
        .build();
    // Round robin: the bad one gets every other request; its third 500 ejects it.
    send(6);
    assertThat(bad.requests.get()).isEqualTo(3);
    EndpointStatus s = Calls.status(group, bad.endpoint());
    assertThat(s.ejected()).isTrue();
    assertThat(s.ejections()).isEqualTo(1);
    assertThat(s.totalFailures()).isEqualTo(3);
    assertThat(s.available()).isFalse();

    send(20);
    assertThat(bad.requests.get()).as("no traffic while ejected").isEqualTo(3);
    assertThat(good.requests.get()).isEqualTo(23);
  }

  @Test
  void aSuccessResetsTheConsecutiveCount() throws Exception {
    JdkBackend flaky = backend("flaky");
    group = UpstreamGroup.builder().name("flaky").endpoints(List.of(flaky.endpoint()))
        .passiveEjection(3, Duration.ofSeconds(30), 100)
        .build();
    for (int round = 0; round < 3; round++) {
      flaky.status = 500;
      send(2);
      flaky.status = 200;
      send(1);
    }
    assertThat(Calls.status(group, flaky.endpoint()).ejected()).isFalse();
    flaky.status = 503;
    send(3);
    assertThat(Calls.status(group, flaky.endpoint()).ejected()).isTrue();
  }

  @Test
  void neverMoreThanMaxEjectionPercent() throws Exception {
    JdkBackend a = backend("a");
    JdkBackend b = backend("b");
    a.status = 500;
    b.status = 500;
    group = UpstreamGroup.builder().name("max-percent")
        .endpoints(List.of(a.endpoint(), b.endpoint()))
        .passiveEjection(2, Duration.ofSeconds(30), 50)
        .build();
    send(10);
    List<EndpointStatus> status = group.status();
    assertThat(status.stream().filter(EndpointStatus::ejected).count()).isEqualTo(1);
    JdkBackend kept = status.get(0).ejected() ? b : a;
    int before = kept.requests.get();
    send(10);
    assertThat(kept.requests.get()).as("the one left takes the traffic").isEqualTo(before + 10);
    assertThat(group.status().stream().filter(EndpointStatus::ejected).count()).isEqualTo(1);
  }

  @Test
  void theEjectionEndsAndGrowsWhenRepeated() throws Exception {
    JdkBackend bad = backend("bad");
    JdkBackend good = backend("good");
    bad.status = 500;
    long base = 300;
    group = UpstreamGroup.builder().name("eject-grows")
        .endpoints(List.of(bad.endpoint(), good.endpoint()))
        .passiveEjection(2, Duration.ofMillis(base), 50)
        .build();
    long first = ejectAndWaitForReturn(bad);
    assertThat(first).as("first ejection, ms").isGreaterThanOrEqualTo(base - 20);
    long second = ejectAndWaitForReturn(bad);
    assertThat(second).as("second ejection, ms").isGreaterThanOrEqualTo(2 * base - 20);
    assertThat(Calls.status(group, bad.endpoint()).ejections()).isEqualTo(2);
    // Back in rotation, it gets traffic again.
    int before = bad.requests.get();
    bad.status = 200;
    send(4);
    assertThat(bad.requests.get()).isEqualTo(before + 2);
  }

  /** Sends until the bad backend is ejected; returns how long it stayed out, in ms. */
  private long ejectAndWaitForReturn(JdkBackend bad) {
    long ejectedAt = 0;
    for (int i = 0; i < 20 && ejectedAt == 0; i++) {
      Calls.send(group, Calls.get("/work"));
      if (Calls.status(group, bad.endpoint()).ejected()) {
        ejectedAt = System.nanoTime(); // after the request whose failure ejected it
      }
    }
    assertThat(ejectedAt).as("ejected").isNotZero();
    Await.until("back in rotation", Duration.ofSeconds(5),
        () -> !Calls.status(group, bad.endpoint()).ejected());
    return (System.nanoTime() - ejectedAt) / 1_000_000;
  }
}
