package dev.sluice.loadgen;

import java.io.Console;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Shows how a {@link LoadGenerator} run is going, from a thread of its own.
 *
 * <ul>
 *   <li>on a terminal: one line redrawn in place with {@code '\r'} (at most ten times a second): a
 *       bar, percent, requests sent, the recent rate, failures, retries and the time left;
 *   <li>otherwise (a file, a pipe, a CI log): a plain line every interval (5 s for {@code sluice
 *       send}) with the same figures.
 * </ul>
 *
 * <p>{@link #close()} stops it and prints the last state; on a terminal it ends the line.
 */
public final class ProgressPrinter implements AutoCloseable {
  /** The shortest redraw interval on a terminal. */
  public static final Duration MIN_TERMINAL_INTERVAL = Duration.ofMillis(100);
  private static final int BAR = 24;
  private static final long RATE_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(2);

  private final LoadGenerator generator;
  private final PrintStream out;
  private final boolean terminal;
  private final ScheduledExecutorService timer;
  private final ArrayDeque<long[]> samples = new ArrayDeque<>(); // {elapsed, completed}
  private int lastLength;
  private boolean closed;

  private ProgressPrinter(LoadGenerator generator, PrintStream out, boolean terminal) {
    this.generator = generator;
    this.out = out;
    this.terminal = terminal;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sluice-send-progress");
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Starts printing {@code generator}'s progress to {@code out} every {@code interval} (on a
   * terminal at least {@link #MIN_TERMINAL_INTERVAL} apart).
   */
  public static ProgressPrinter start(LoadGenerator generator, PrintStream out, boolean terminal,
      Duration interval) {
    ProgressPrinter p = new ProgressPrinter(generator, out, terminal);
    long every = terminal ? Math.max(interval.toNanos(), MIN_TERMINAL_INTERVAL.toNanos())
        : Math.max(1, interval.toNanos());
    p.timer.scheduleAtFixedRate(p::tick, every, every, TimeUnit.NANOSECONDS);
    return p;
  }

  /**
   * True when the program talks to a terminal: {@code System.console() != null}, and on Java 22
   * and later, where a console exists even when output is redirected, {@code Console.isTerminal()}.
   */
  public static boolean isTerminal() {
    Console c = System.console();
    if (c == null) {
      return false;
    }
    try {
      Method m = Console.class.getMethod("isTerminal");
      return (Boolean) m.invoke(c);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return true; // before Java 22 a console means a terminal
    }
  }

  private synchronized void tick() {
    if (closed) {
      return;
    }
    print(generator.progress(), false);
  }

  private void print(Progress p, boolean last) {
    String line = terminal ? bar(p, last) : plain(p, last);
    if (terminal) {
      StringBuilder sb = new StringBuilder("\r").append(line);
      for (int i = line.length(); i < lastLength; i++) {
        sb.append(' ');
      }
      lastLength = line.length();
      if (last) {
        sb.append(System.lineSeparator());
      }
      out.print(sb);
    } else {
      out.println(line);
    }
    out.flush();
  }

  /** The rate of completed requests over the last two seconds or so. */
  private double recentRate(Progress p) {
    samples.addLast(new long[] {p.elapsedNanos(), p.completed()});
    while (samples.size() > 2 && p.elapsedNanos() - samples.getFirst()[0] > RATE_WINDOW_NANOS) {
      samples.removeFirst();
    }
    long[] first = samples.getFirst();
    long dt = p.elapsedNanos() - first[0];
    if (dt <= 0) {
      return p.elapsedNanos() > 0 ? p.completed() * 1e9 / p.elapsedNanos() : 0;
    }
    return (p.completed() - first[1]) * 1e9 / dt;
  }

  private String eta(Progress p, double rate, boolean last) {
    if (last) {
      return "done in " + Durations.format(Duration.ofNanos(p.elapsedNanos()));
    }
    if (p.totalRequests() > 0) {
      long left = p.totalRequests() - p.completed();
      if (rate <= 0) {
        return "ETA -";
      }
      return "ETA " + Durations.format(Duration.ofNanos((long) (left / rate * 1e9)));
    }
    long left = p.duration() == null ? 0 : Math.max(0, p.duration().toNanos() - p.elapsedNanos());
    return "ETA " + Durations.format(Duration.ofNanos(left));
  }

  private String bar(Progress p, boolean last) {
    double f = p.fraction();
    int filled = (int) Math.round(f * BAR);
    double rate = recentRate(p);
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < BAR; i++) {
      sb.append(i < filled ? '#' : '-');
    }
    sb.append(String.format(Locale.ROOT, "] %3.0f%%  %s  %,.0f req/s  %,d failed  %,d retried  %s",
        f * 100, sentText(p), rate, p.failed(), p.retried(), eta(p, rate, last)));
    return sb.toString();
  }

  private String plain(Progress p, boolean last) {
    double rate = recentRate(p);
    return String.format(Locale.ROOT,
        "sluice send: %3.0f%%, %s, %,.0f req/s, %,d items accepted, %,d failed, %,d retried, %s",
        p.fraction() * 100, sentText(p), rate, p.itemsAccepted(), p.failed(), p.retried(),
        eta(p, rate, last));
  }

  private static String sentText(Progress p) {
    return p.totalRequests() > 0
        ? String.format(Locale.ROOT, "%,d/%,d requests", p.sent(), p.totalRequests())
        : String.format(Locale.ROOT, "%,d requests", p.sent());
  }

  /** Stops the updates and prints the final state. */
  @Override
  public void close() {
    timer.shutdownNow();
    try {
      timer.awaitTermination(1, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      print(generator.progress(), true);
    }
  }
}
