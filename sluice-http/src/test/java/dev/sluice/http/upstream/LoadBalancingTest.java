package dev.sluice.http.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.Await;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** How requests spread over endpoints: round robin, weights, least requests, consistent hash. */
class LoadBalancingTest {
  private final List<JdkBackend> backends = new ArrayList<>();
  private UpstreamGroup group;

  @AfterEach
  void tearDown() {
    if (group != null) {
      group.close();
    }
    backends.forEach(JdkBackend::close);
  }

  private List<JdkBackend> start(int n) throws Exception {
    for (int i = 0; i < n; i++) {
      backends.add(new JdkBackend("b" + i));
    }
    return backends;
  }

  private static Map<Endpoint, Integer> spread(UpstreamGroup group, int requests) {
    Map<Endpoint, Integer> counts = new HashMap<>();
    for (int i = 0; i < requests; i++) {
      Calls.Answer a = Calls.send(group, Calls.get("/rr"));
      assertThat(a.status()).isEqualTo(200);
      counts.merge(a.endpoint(), 1, Integer::sum);
    }
    return counts;
  }

  @Test
  void roundRobinSpreadsEvenly() throws Exception {
    List<JdkBackend> b = start(3);
    group = UpstreamGroup.builder().name("rr")
        .endpoints(List.of(b.get(0).endpoint(), b.get(1).endpoint(), b.get(2).endpoint()))
        .loadBalancing(LoadBalancing.ROUND_ROBIN)
        .build();
    spread(group, 30);
    assertThat(b).extracting(x -> x.requests.get()).containsExactly(10, 10, 10);
  }

  @Test
  void weightsGiveProportionalShares() throws Exception {
    List<JdkBackend> b = start(3);
    group = UpstreamGroup.builder().name("weighted")
        .endpoints(List.of(b.get(0).endpoint(1), b.get(1).endpoint(2), b.get(2).endpoint(3)))
        .build();
    // Smooth WRR is exact over any multiple of the weight sum (6), and interleaves: the first six
    // picks already hold each endpoint exactly weight times.
    Map<Endpoint, Integer> first = spread(group, 6);
    assertThat(first.get(b.get(0).endpoint(1))).isEqualTo(1);
    assertThat(first.get(b.get(1).endpoint(2))).isEqualTo(2);
    assertThat(first.get(b.get(2).endpoint(3))).isEqualTo(3);
    spread(group, 54);
    assertThat(b).extracting(x -> x.requests.get()).containsExactly(10, 20, 30);
  }

  @Test
  void leastRequestsPrefersTheIdleBackend() throws Exception {
    List<JdkBackend> b = start(2);
    JdkBackend slow = b.get(0);
    JdkBackend fast = b.get(1);
    slow.holding = true;
    group = UpstreamGroup.builder().name("least")
        .endpoints(List.of(slow.endpoint(), fast.endpoint()))
        .loadBalancing(LoadBalancing.LEAST_REQUESTS)
        .build();
    List<CompletableFuture<UpstreamResponse>> held = new ArrayList<>();
    for (int i = 1; i <= 20; i++) {
      CompletableFuture<UpstreamResponse> f = group.send(Calls.get("/work"));
      int sent = i;
      Await.until("request " + i + " at a backend", Duration.ofSeconds(5),
          () -> slow.requests.get() + fast.requests.get() == sent);
      if (fast.requests.get() + slow.requests.get() == sent && slow.requests.get() > held.size()) {
        held.add(f); // the slow one has it: it stays outstanding
      } else {
        assertThat(Calls.answer(f).endpoint()).isEqualTo(fast.endpoint());
      }
    }
    // Round robin would have given the slow backend 10 of 20; least requests gives it one at most
    // (the first pick, when both were idle), since its request stays outstanding.
    assertThat(slow.requests.get()).isLessThanOrEqualTo(1);
    assertThat(fast.requests.get()).isGreaterThanOrEqualTo(19);
    slow.release();
    for (CompletableFuture<UpstreamResponse> f : held) {
      assertThat(Calls.answer(f).endpoint()).isEqualTo(slow.endpoint());
    }
  }

  @Test
  void consistentHashKeepsKeysAndMovesOnlyTheLostBackendsKeys() throws Exception {
    List<JdkBackend> b = start(3);
    group = UpstreamGroup.builder().name("hash")
        .endpoints(List.of(b.get(0).endpoint(), b.get(1).endpoint(), b.get(2).endpoint()))
        .loadBalancing(LoadBalancing.CONSISTENT_HASH)
        .passiveEjection(1, Duration.ofSeconds(30), 50)
        .build();
    int keys = 300;
    Map<String, Endpoint> before = map(keys);
    assertThat(map(keys)).as("the same key goes to the same backend").isEqualTo(before);
    Map<Endpoint, Long> shares = new HashMap<>();
    before.values().forEach(e -> shares.merge(e, 1L, Long::sum));
    assertThat(shares).hasSize(3);
    shares.values().forEach(n -> assertThat(n).as("keys per backend").isBetween(50L, 150L));

    // Kill one backend; its keys fail until it is ejected, then go elsewhere.
    JdkBackend dead = b.get(1);
    Endpoint deadEndpoint = dead.endpoint();
    dead.close();
    String deadKey = before.entrySet().stream().filter(e -> e.getValue().equals(deadEndpoint))
        .findFirst().orElseThrow().getKey();
    Await.until("the dead backend ejected", Duration.ofSeconds(10), () -> {
      group.send(Calls.keyed("/k", deadKey)).handle((r, t) -> {
        if (r != null) {
          r.release();
        }
        return null;
      }).join();
      return Calls.status(group, deadEndpoint).ejected();
    });

    Map<String, Endpoint> after = map(keys);
    int moved = 0;
    for (Map.Entry<String, Endpoint> e : before.entrySet()) {
      if (e.getValue().equals(deadEndpoint)) {
        assertThat(after.get(e.getKey())).isNotEqualTo(deadEndpoint);
        moved++;
      } else {
        assertThat(after.get(e.getKey())).as("key %s stays", e.getKey()).isEqualTo(e.getValue());
      }
    }
    assertThat((double) moved / keys).as("share of keys moved").isBetween(0.2, 0.47);
  }

  @Test
  void consistentHashWithoutKeyFallsBackToRoundRobin() throws Exception {
    List<JdkBackend> b = start(2);
    group = UpstreamGroup.builder().name("hash-rr")
        .endpoints(List.of(b.get(0).endpoint(), b.get(1).endpoint()))
        .loadBalancing(LoadBalancing.CONSISTENT_HASH)
        .build();
    spread(group, 10);
    assertThat(b).extracting(x -> x.requests.get()).containsExactly(5, 5);
  }

  private Map<String, Endpoint> map(int keys) {
    Map<String, Endpoint> out = new HashMap<>();
    for (int i = 0; i < keys; i++) {
      String key = "trace-" + i;
      out.put(key, Calls.send(group, Calls.keyed("/k", key)).endpoint());
    }
    return out;
  }
}
