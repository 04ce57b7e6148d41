package dev.sluice.kafka.testing;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Injects the JVM's shared {@link KafkaTestBroker} into test constructors, lifecycle methods and
 * test methods: {@code @ExtendWith(KafkaTestBrokerExtension.class)}, then
 * {@code @BeforeAll static void setUp(KafkaTestBroker kafka)}. The broker outlives the test
 * class; nothing is closed here.
 */
public final class KafkaTestBrokerExtension implements ParameterResolver {

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == KafkaTestBroker.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return KafkaTestBroker.shared();
  }
}
