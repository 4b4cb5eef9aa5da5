# Tree ensembles exported by emlearn, evaluated in pure MicroPython: regression and classification.
#
#   from meter import trees
#   model = trees.load("models/depletion.csv")
#   value = model.predict(features)     # regression: a float; classification: the class index
#
# In: the CSV that emlearn's `convert(estimator).save(format="csv")` writes for a DecisionTree, RandomForest
# or ExtraTrees regressor or classifier (lines `f,<features>`, `c,<classes>`, `lb,<leaf bits>`, `l,<leaf>`,
# `r,<root>`, `n,<feature>,<threshold>,<left>,<right>`). Features are ints in the int16 range, as
# emlearn's C takes `int16_t` (pass an array('h') or a list of ints).
# Out: the same number emlearn's compiled C (`eml_trees_regress1`, `eml_trees_predict`) returns for the
# model, bit for bit: thresholds become int16 by truncation like emlearn's code generator does, regression
# leaves are float32, and sums and means are rounded to float32 at every step as the C does (array('f')
# stores round a double to float32; on a single-precision port they are exact already).
# Raises: ValueError for a malformed or unsupported file (also what the C could not build: thresholds outside
# int16, leaf_bits other than 0..8 for classifiers or 32 for regressors), or a feature count that does not
# match. Every child reference is checked at load, so a walk is bounded by the tree's depth.
# Memory: 8 bytes per decision node, 4 per regression leaf (1 per majority-vote leaf, 4 per class per
# soft-vote leaf), plus a few small objects; the file is read line by line, twice (count, then fill), so
# nothing grows in place.

import gc
from array import array

try:
    from micropython import const
except ImportError:  # CPython: the tools and tests import this module too
    def const(value):
        return value


_INT16_MIN = const(-32768)
_INT16_MAX = const(32767)
_FEATURES_MAX = const(127)  # emlearn's loadable C stores the feature index in an int8
_LEAF_BITS_VALUE = const(32)  # regression: a leaf is a float32 value
_LEAF_BITS_PROPORTIONS_MAX = const(8)  # 1..8: a leaf holds each class's proportion as a uint8 (soft vote)


class Trees:
    """A loaded tree ensemble. `predict(features)`; classifiers also `predict_proba(features, out)`."""

    def __init__(self, n_features, n_classes, leaf_bits, nodes, roots, leaves):
        self.n_features = n_features
        self.n_classes = n_classes  # 0 for a regressor
        self.leaf_bits = leaf_bits
        self.nodes = nodes  # array('h'): feature, threshold, left, right per decision node
        self.roots = roots  # array('h'): the first node of each tree
        self.leaves = leaves  # array('f') for regression, array('B') for classification
        self.sum = array("f", bytes(4 * max(1, n_classes)))  # float32 accumulators, reused

    def _leaf(self, root, features):
        # emlearn's eml_trees_predict_tree: left if feature < threshold; a child >= 0 is a forward jump
        # relative to this node, a child < 0 is leaf -child - 1.
        nodes = self.nodes
        index = root
        while True:  # ends: load() checked that every jump goes forward and stays inside the nodes
            base = index << 2
            child = nodes[base + 2] if features[nodes[base]] < nodes[base + 1] else nodes[base + 3]
            if child < 0:
                return -child - 1
            index += child

    def _check(self, features):
        if len(features) != self.n_features:
            raise ValueError("expected %d features" % self.n_features)

    def predict(self, features):
        """Regression: the mean of the trees' leaves (float). Classification: the most voted class."""
        self._check(features)
        if not self.n_classes:
            total = self.sum
            total[0] = 0.0
            leaves = self.leaves
            for root in self.roots:
                total[0] = total[0] + leaves[self._leaf(root, features)]
            total[0] = total[0] / len(self.roots)
            return total[0]
        out = self.sum
        self._vote(features, out)
        best = -1  # eml_trees_predict: the first class with the most (strictly more than 0) votes
        best_value = 0.0
        for index in range(self.n_classes):
            if out[index] > best_value:
                best = index
                best_value = out[index]
        return best

    def predict_proba(self, features, out):
        """Classification: fill `out` (array('f') of n_classes) with the class probabilities."""
        self._check(features)
        if not self.n_classes:
            raise ValueError("not a classifier")
        if len(out) != self.n_classes:
            raise ValueError("out must have one slot per class")
        self._vote(features, out)
        return out

    def _vote(self, features, out):
        # eml_trees_predict_proba, float32 at every step.
        n_classes = self.n_classes
        for index in range(n_classes):
            out[index] = 0.0
        leaves = self.leaves
        if self.leaf_bits == 0:
            for root in self.roots:
                klass = leaves[self._leaf(root, features)]
                out[klass] = out[klass] + 1.0
        else:
            for root in self.roots:
                offset = self._leaf(root, features) * n_classes
                for index in range(n_classes):
                    out[index] = out[index] + leaves[offset + index]
        n_trees = len(self.roots)
        for index in range(n_classes):
            out[index] = out[index] / n_trees


def _header(path):
    # First pass: the metadata and how many leaves, roots and nodes to allocate.
    n_features = n_classes = leaf_bits = None
    n_leaves = n_roots = n_nodes = 0
    with open(path) as stream:
        for line in stream:
            kind = line[: line.find(",")]
            if kind == "n":
                n_nodes += 1
            elif kind == "l":
                n_leaves += 1
            elif kind == "r":
                n_roots += 1
            elif kind == "f":
                n_features = int(line[2:])
            elif kind == "c":
                n_classes = int(line[2:])
            elif kind == "lb":
                leaf_bits = int(line[3:])
    if n_features is None or n_classes is None or leaf_bits is None:
        raise ValueError("model file lacks f, c or lb")
    if not 0 < n_features <= _FEATURES_MAX or n_classes < 0:
        raise ValueError("bad feature or class count")
    if n_classes == 0 and leaf_bits != _LEAF_BITS_VALUE:
        raise ValueError("a regressor needs 32-bit leaves")
    if n_classes and not 0 <= leaf_bits <= _LEAF_BITS_PROPORTIONS_MAX:
        raise ValueError("a classifier needs leaf_bits 0..8")
    if not (n_nodes and n_leaves and n_roots):
        raise ValueError("model file has no trees")
    return n_features, n_classes, leaf_bits, n_leaves, n_roots, n_nodes


def _int16(text):
    value = int(float(text))  # emlearn's C code generator: int(threshold), truncating
    if not _INT16_MIN <= value <= _INT16_MAX:
        raise ValueError("threshold outside int16")
    return value


def load(path):
    """Read an emlearn CSV model file; returns a Trees. Raises ValueError (or OSError) if it cannot."""
    n_features, n_classes, leaf_bits, n_leaves, n_roots, n_nodes = _header(path)
    if n_nodes > _INT16_MAX // 4 or n_leaves > _INT16_MAX or n_roots > n_nodes:
        raise ValueError("model too large")
    # Soft voting keeps each class's proportion as the float32 the C computes (uint8 / 255.0f).
    proportions = n_classes and leaf_bits
    # Every item is written below (the counts are checked at the end). array(code, range(n)) is allocated once;
    # array(code, bytes(size)) would need a temporary of the same size beside it, in a heap with little room.
    gc.collect()  # the first pass's lines: gone, so that the arrays find room in one piece
    nodes = array("h", range(4 * n_nodes))
    roots = array("h", range(n_roots))
    if not n_classes:
        leaves = array("f", range(n_leaves))
    elif proportions:
        leaves = array("f", range(n_leaves * n_classes))
    else:
        leaves = bytearray(n_leaves)
    leaf_index = root_index = node_index = 0
    with open(path) as stream:
        for line in stream:
            kind = line[: line.find(",")]
            if kind == "n":
                if node_index >= n_nodes:
                    raise ValueError("model file changed while reading")
                fields = line.split(",")
                if len(fields) != 5:
                    raise ValueError("bad node line")
                feature = int(fields[1])
                if not 0 <= feature < n_features:
                    raise ValueError("node uses an unknown feature")
                base = node_index << 2
                nodes[base] = feature
                nodes[base + 1] = _int16(fields[2])
                nodes[base + 2] = _child(fields[3], node_index, n_nodes, n_leaves)
                nodes[base + 3] = _child(fields[4], node_index, n_nodes, n_leaves)
                node_index += 1
            elif kind == "l":
                if leaf_index >= n_leaves:
                    raise ValueError("model file changed while reading")
                text = line[2:].strip()
                if not n_classes:
                    leaves[leaf_index] = float(text)
                elif proportions:
                    # numpy prints a leaf's proportions as "[ 12 243   0]"
                    values = text.strip("[]").split()
                    if len(values) != n_classes:
                        raise ValueError("bad leaf line")
                    for klass in range(n_classes):
                        leaves[leaf_index * n_classes + klass] = _uint8(values[klass]) / 255.0
                else:
                    klass = int(text)
                    if not 0 <= klass < n_classes:
                        raise ValueError("leaf refers to a missing class")
                    leaves[leaf_index] = klass
                leaf_index += 1
            elif kind == "r":
                if root_index >= n_roots:
                    raise ValueError("model file changed while reading")
                root = int(line[2:])
                if not 0 <= root < n_nodes:
                    raise ValueError("root refers to a missing node")
                roots[root_index] = root
                root_index += 1
    if (node_index, leaf_index, root_index) != (n_nodes, n_leaves, n_roots):
        raise ValueError("model file changed while reading")
    return Trees(n_features, n_classes, leaf_bits, nodes, roots, leaves)


def _child(text, index, n_nodes, n_leaves):
    # Every reference must land inside the arrays and every jump must go forward, so a walk ends.
    child = int(text)
    if child < 0:
        if -child - 1 >= n_leaves:
            raise ValueError("node refers to a missing leaf")
    elif child == 0 or index + child >= n_nodes:
        raise ValueError("node refers to a missing node")
    return child


def _uint8(text):
    value = int(text)
    if not 0 <= value <= 255:
        raise ValueError("bad leaf proportion")
    return value
