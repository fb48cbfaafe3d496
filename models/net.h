/* Network descriptions: a multi-exit network as an ordered list of backbone ops plus
 * Bag-of-Features exit heads with explicit parameter sharing, generated for VGG-19 (BN) and the
 * CIFAR ResNet-34 at any width and input shape, or read from a layer-list INI file
 * (docs/netfile.md), with shapes, MACs, parameters and tensor names.
 *
 * Conventions (DESIGN section 3):
 * - Channels scale as max(1, lround(base · width)): round to nearest, halves away from zero.
 * - The generators' inputs must be square (the BoF window is one s for both axes and every
 *   exit must feed its FC pair 64 or 256 features): vgg19 needs a side that is a multiple of 32,
 *   resnet34 a multiple of 16. A layer-list file's input may be any shape its ops accept.
 * - MACs are true multiply-accumulates: conv H_out·W_out·C_out·C_in·kh·kw, FC in·out; biases are
 *   free. BN, ReLU, pooling and adds count 0 MACs and their element operations in vec_ops (one
 *   per output element for BN, ReLU and add, one per input element for pooling).
 * - The paper's proxy cost H_out·W_out·C_in·C_out (in·out for an FC) sits in its own field.
 * - Parameters are every element stored in a model file: weights, biases, BN gamma/beta and
 *   running mean/var, BoF scalars; `trainable` marks the ones an optimiser updates.
 *
 * Op and tensor names (stable; a model-file loader checks files against them):
 *   vgg19:    conv1 .. conv16 (tensors convK.weight [C_out,C_in,3,3], convK.bias [C_out]),
 *             convK.bn (convK.bn.gamma|beta|mean|var [C_out]), convK.relu, pool1 .. pool5,
 *             classifier (classifier.weight [classes, C·H·W], classifier.bias [classes]).
 *   resnet34: stem.conv, stem.bn, stem.relu; per block sXbY (stage X 1..4, block Y from 1):
 *             sXbY.conv1, sXbY.bn1, sXbY.relu1, sXbY.conv2, sXbY.bn2, [sXbY.proj.conv,
 *             sXbY.proj.bn on a projected shortcut], sXbY.add, sXbY.relu2; avgpool; classifier.
 *             Convs have no bias (only OP.weight); BN tensors are OP.gamma|beta|mean|var.
 *   BoF modules: bof.w64 .. bof.w512 (vgg19, named by unscaled width), bof.sXbY (resnet34), with
 *             M.codebook.weight [64,C_in,1,1], M.codebook.bias [64], M.a, M.c, M.n1, M.n2 [1].
 *   FC pairs: fc.shared (vgg19), fc.s1 .. fc.s4 (resnet34), with M.0.weight [64,256], M.0.bias
 *             [64], M.1.weight [classes,64], M.1.bias [classes].
 *   Exits: vgg19 conv1, conv2, pool1, conv3, .. conv16 (20); resnet34 sXbY.conv1, sXbY.add (32).
 *   Exit index net_exit_count() is the final classifier, named "final".
 *   Layer-list files: ops, exits, BoF modules and FC pairs carry the names the file gives
 *             (defaults: exit = its op, BoF module "bof.cN" for N channels after width
 *             scaling, FC pair "fc.shared"); convs and FCs own OP.weight [and OP.bias], BNs
 *             OP.gamma|beta|mean|var, as above. Only conv `out` scales with the width; the
 *             input need not be square (exits need square maps); no default coarse exits
 *             unless the file's [net] section lists them.
 * An exit head runs codebook 1×1 conv, BoF activation/normalisation/pooling, then FC 0 (only with
 * 256 features) and FC 1 with no activation between them, as in the paper's code. */
#ifndef PESIM_NET_H
#define PESIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Status codes; 0 is success. */
enum net_status {
    NET_OK = 0,
    NET_EARG = -1,   /* a bad argument: unknown arch, width, input shape, classes */
    NET_ENOMEM = -2, /* out of memory */
    NET_EIO = -3,    /* reading a layer-list file or writing a table failed */
};

/* Limits that keep every MAC count within uint64_t and every dimension within int. */
#define NET_NAME_MAX     48    /* longest op, exit, module or tensor name, terminator included */
#define NET_MAX_DIMS     4     /* tensor rank */
#define NET_MAX_SIDE     4096  /* input height and width */
#define NET_MAX_CHANNELS 16384 /* input channels and scaled backbone channels */
#define NET_MAX_CLASSES  65536 /* output classes */
#define NET_MIN_CLASSES  2
#define NET_MAX_COARSE   8        /* exits in a default coarse list */
#define NET_MAX_OPS      4096     /* ops in a layer-list file */
#define NET_LAYERS_ARCH  "layers" /* net_arch() of a network read from a layer-list file */

/* Exit head geometry (DESIGN section 3): 64 BoF codewords, 2×2 pooling bins after a conv, an FC
 * to 64 hidden units; hidden == codewords so that a 1-bin exit (64 features) skips that FC. */
#define NET_BOF_CODEWORDS 64
#define NET_BOF_BINS      2 /* bins per side where the map is twice the window s */
#define NET_EXIT_HIDDEN   NET_BOF_CODEWORDS

/* Kinds of backbone op. A projection shortcut is a NET_OP_CONV (and a NET_OP_BN) with
 * shortcut set. */
typedef enum net_op_kind {
    NET_OP_CONV,    /* 2-D convolution, optional bias */
    NET_OP_BN,      /* inference batch norm over channels */
    NET_OP_RELU,    /* max(x, 0) */
    NET_OP_MAXPOOL, /* max pooling */
    NET_OP_AVGPOOL, /* average pooling (global in resnet34) */
    NET_OP_FC,      /* fully connected over the flattened C·H·W input, with bias */
    NET_OP_ADD,     /* residual add of two inputs */
    NET_OP_KIND_COUNT
} net_op_kind;

/* A tensor shape as channels × height × width (one sample). */
typedef struct net_shape {
    int c, h, w;
} net_shape;

/* One backbone op. Ops run in list order; src/src2 name the ops whose outputs they read. */
typedef struct net_op {
    char name[NET_NAME_MAX];
    net_op_kind kind;
    int src;             /* op whose output is the input; -1: the network input */
    int src2;            /* second input of an add (the shortcut); -1 for other kinds */
    net_shape in, out;   /* input (first input for an add) and output shapes */
    int kh, kw;          /* kernel or window size (0 for BN, ReLU, add) */
    int stride, pad;     /* stride and zero padding on each side, both axes */
    bool bias;           /* conv/FC with a bias tensor */
    bool shortcut;       /* part of a projection shortcut (1×1 stride-2 conv and its BN) */
    uint64_t params;     /* stored parameter elements (all of the op's tensors) */
    uint64_t macs;       /* true multiply-accumulates */
    uint64_t proxy_macs; /* the paper's proxy H_out·W_out·C_in·C_out (FC: in·out), else 0 */
    uint64_t vec_ops;    /* element operations of BN, ReLU, pooling and add */
    int exit;            /* exit evaluated on this op's output, or -1 */
    int tensor_first;    /* first of tensor_count consecutive entries in the tensor list */
    int tensor_count;
} net_op;

/* One exit (0 .. net_exit_count() - 1) or the final classifier (index net_exit_count()). */
typedef struct net_exit {
    char name[NET_NAME_MAX];    /* "conv1", "pool2", "s2b1.add", "final" */
    int op;                     /* backbone op it follows (the final classifier op for "final") */
    net_shape in;               /* the map the head reads: that op's output */
    int bof;                    /* BoF module index; -1 for the final classifier */
    int fc_pair;                /* FC pair index; -1 for the final classifier */
    int s;                      /* BoF average-pooling window and stride; 0 for "final" */
    int features;               /* NET_BOF_CODEWORDS · (H/s) · (W/s): 256 or 64 */
    bool uses_fc0;              /* false when features == NET_EXIT_HIDDEN: FC 256→64 skipped */
    uint64_t backbone_macs_cum; /* backbone MACs of ops 0 .. op (the total for "final") */
    uint64_t macs;              /* head: codebook 1×1 conv + FCs it runs; 0 for "final" */
    uint64_t vec_ops;           /* head: activation, normalisation, pooling, n2 scaling */
} net_exit;

/* A Bag-of-Features module, shared by the exits that name it. */
typedef struct net_bof {
    char name[NET_NAME_MAX]; /* "bof.w128", "bof.s2b1" */
    int c_in;                /* channels of the maps it reads */
    int codewords;           /* NET_BOF_CODEWORDS */
    int s;                   /* pooling window: half the map size of its convs */
    uint64_t params;
    int tensor_first, tensor_count;
} net_bof;

/* A pair of exit FCs (in → hidden → classes), shared by the exits that name it. */
typedef struct net_fc_pair {
    char name[NET_NAME_MAX]; /* "fc.shared", "fc.s3" */
    int in, hidden, classes; /* 256, 64, classes */
    uint64_t params;
    int tensor_first, tensor_count;
} net_fc_pair;

/* A parameter tensor as a model file stores it. */
typedef struct net_tensor {
    char name[NET_NAME_MAX];
    int ndim;
    int dims[NET_MAX_DIMS]; /* PyTorch order; unused dims are 0 */
    uint64_t count;         /* product of dims */
    bool trainable;         /* false for BN running mean and variance */
} net_tensor;

/* Whole-network sums. */
typedef struct net_totals {
    uint64_t backbone_macs;       /* every backbone op, final classifier included */
    uint64_t backbone_proxy_macs; /* the paper's proxy, same ops */
    uint64_t backbone_vec_ops;
    uint64_t backbone_params;
    uint64_t exit_macs;    /* summed over every exit head (each exit once, "final" excluded) */
    uint64_t exit_vec_ops; /* likewise */
    uint64_t head_params;  /* BoF modules and FC pairs, each shared module counted once */
    uint64_t params;       /* backbone_params + head_params = sum of tensor counts */
    uint64_t trainable_params;
} net_totals;

typedef struct net net;

/* Build arch ("vgg19" | "resnet34", else the path of a layer-list file, docs/netfile.md) at
 * width (> 0) for h×w×c inputs and classes outputs into *out. 0 ok; NET_EARG (bad argument or
 * file content, "FILE:LINE: message"), NET_EIO (file unreadable) or NET_ENOMEM with a one-line
 * message in err (may be NULL), *out NULL. */
int net_build(net **out, const char *arch, double width, int h, int w, int c, int classes,
              char *err, size_t errlen);
/* Build from a net_arch_text() text: "arch=vgg19|resnet34 width=W input=HxWxC classes=N", or
 * "arch=layers ..." followed by a newline and a layer list (never read from a file). Returns as
 * net_build; err says "cannot parse architecture text 'LINE1'" or "architecture 'LINE1': why". */
int net_build_arch_text(net **out, const char *text, char *err, size_t errlen);
void net_free(net *n); /* free a network; NULL is a no-op */

const char *net_arch(const net *n); /* "vgg19", "resnet34" or "layers" (NET_LAYERS_ARCH) */
double net_width(const net *n);     /* width multiplier it was built with */
net_shape net_input(const net *n);  /* input shape (C, H, W) */
int net_classes(const net *n);      /* output classes */
/* Writes the model file's architecture text into buf: "arch=vgg19 width=0.25 input=32x32x1
 * classes=10", or for a layer-list network "arch=layers width=... classes=N\n" and the canonical
 * layer list (every op with all its keys), so that it rebuilds without the file. Returns the
 * length it needed, as snprintf does (buf may be NULL when len is 0). */
int net_arch_text(const net *n, char *buf, size_t len);

int net_op_count(const net *n);                     /* backbone ops (layers) */
const net_op *net_op_at(const net *n, int i);       /* op i; NULL when out of range */
int net_op_by_name(const net *n, const char *name); /* index of an op; -1 when unknown */
const char *net_op_kind_name(net_op_kind kind);     /* "conv", "bn", ...; "?" when invalid */

int net_exit_count(const net *n);                     /* exits, not counting the final one */
const net_exit *net_exit_at(const net *n, int i);     /* 0 .. count ("final"); NULL otherwise */
int net_exit_by_name(const net *n, const char *name); /* index ("final" → count); -1 unknown */
/* Default exit list of the coarse policy (vgg19: pool2, pool3, pool4; resnet34: the last add
 * of stages 1-3, our analogue; a layer-list file: its [net] coarse_exits, else none); stores a
 * pointer to ascending indices, returns their number. */
int net_coarse_exits(const net *n, const int **exits);

int net_bof_count(const net *n);                        /* BoF modules */
const net_bof *net_bof_at(const net *n, int i);         /* module i; NULL when out of range */
int net_fc_pair_count(const net *n);                    /* exit FC pairs */
const net_fc_pair *net_fc_pair_at(const net *n, int i); /* pair i; NULL when out of range */

int net_tensor_count(const net *n); /* tensors: ops' in op order, then BoF modules, FC pairs */
const net_tensor *net_tensor_at(const net *n, int i);   /* tensor i; NULL when out of range */
int net_tensor_by_name(const net *n, const char *name); /* index of a tensor; -1 unknown */
uint64_t net_param_count(const net *n);                 /* elements of all tensors */
uint64_t net_trainable_count(const net *n);             /* elements of trainable tensors */
const net_totals *net_get_totals(const net *n);         /* whole-network sums */

/* Optional columns of net_print_table. */
enum net_print_flags {
    NET_PRINT_PROXY = 1u << 0,   /* the paper's proxy cost per op */
    NET_PRINT_VEC_OPS = 1u << 1, /* element operations per op */
};
/* Per-op table (name, kind, output shape, parameters, MACs, exit-head MACs, cumulative share of
 * backbone MACs) with optional columns, then totals. 0 ok, NET_EIO when a write fails. */
int net_print_table(const net *n, FILE *out, unsigned flags);
int net_print_info(const net *n, FILE *out); /* net_print_table with no optional columns */

#endif /* PESIM_NET_H */
