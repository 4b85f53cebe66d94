import yaml from 'js-yaml';

/**
 * One YAML style for every document kubestation writes into a seed: block
 * style, no anchors/aliases (cloud-init and kubeadm read them, but people
 * reading the seed should not have to), no line folding (PEM blocks and
 * scripts stay byte-exact), keys in the order the renderer built them.
 */
export function dumpYaml(document: unknown, options: { quoteAllStrings?: boolean } = {}): string {
  return yaml.dump(document, {
    noRefs: true,
    lineWidth: -1,
    quotingType: '"',
    sortKeys: false,
    forceQuotes: options.quoteAllStrings ?? false,
  });
}
