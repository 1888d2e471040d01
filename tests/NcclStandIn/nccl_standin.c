/*
 * A host-memory stand-in for NCCL's C API (nccl.h, 2.x), for tests on machines without GPUs.
 *
 * The calls have NCCL's signatures and results and run synchronously over MPI on CPU memory: a communicator is an MPI
 * communicator split from MPI_COMM_WORLD by the unique id, so ranks that were given different ids end up in different
 * communicators and ncclCommInitRank reports ncclInvalidUsage (NVIDIA's NCCL would hang), which lets the tests check
 * the id's exchange. The MPI library is the one the process already loaded (MPICH ABI: ADAN_MPI_LIBRARY, else
 * libmpi.so.12, else libmpich.so.12), found with dlopen, so no MPI headers are needed to build this file:
 *
 *     gcc -shared -fPIC -O2 -o libnccl_standin.so nccl_standin.c -ldl
 *
 * NCCL_STANDIN_VERSION overrides the version ncclGetVersion reports (to test the too-old refusal).
 * The export adanNcclStandIn tells the binding that this library takes CPU tensors.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum
{
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,
    ncclInternalError = 3,
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6,
    ncclInProgress = 7,
} ncclResult_t;

typedef enum { ncclInt8 = 0, ncclUint8 = 1, ncclInt32 = 2, ncclUint32 = 3, ncclInt64 = 4, ncclUint64 = 5, ncclFloat16 = 6, ncclFloat32 = 7, ncclFloat64 = 8, ncclBfloat16 = 9 } ncclDataType_t;
typedef enum { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;

#define NCCL_UNIQUE_ID_BYTES 128
typedef struct { char internal[NCCL_UNIQUE_ID_BYTES]; } ncclUniqueId;

/* MPICH ABI handles and constants. */
typedef int MPI_Comm;
typedef int MPI_Datatype;
typedef int MPI_Op;
#define MPI_COMM_WORLD ((MPI_Comm)0x44000000)
#define MPI_COMM_NULL ((MPI_Comm)0x04000000)
#define MPI_IN_PLACE ((void *)-1)
#define MPI_BYTE ((MPI_Datatype)0x4c00010d)
#define MPI_INT ((MPI_Datatype)0x4c000405)
#define MPI_UNSIGNED ((MPI_Datatype)0x4c000406)
#define MPI_LONG ((MPI_Datatype)0x4c000807)
#define MPI_UNSIGNED_LONG ((MPI_Datatype)0x4c000808)
#define MPI_FLOAT ((MPI_Datatype)0x4c00040a)
#define MPI_DOUBLE ((MPI_Datatype)0x4c00080b)
#define MPI_SIGNED_CHAR ((MPI_Datatype)0x4c000118)
#define MPI_UNSIGNED_CHAR ((MPI_Datatype)0x4c000102)
#define MPI_UNSIGNED_SHORT ((MPI_Datatype)0x4c000204)
#define MPI_MAX ((MPI_Op)0x58000001)
#define MPI_MIN ((MPI_Op)0x58000002)
#define MPI_SUM ((MPI_Op)0x58000003)
#define MPI_PROD ((MPI_Op)0x58000004)
#define MPI_ERRORS_RETURN 0x54000001

static struct
{
    void *library;
    int (*initialized)(int *);
    int (*comm_split)(MPI_Comm, int, int, MPI_Comm *);
    int (*comm_size)(MPI_Comm, int *);
    int (*comm_rank)(MPI_Comm, int *);
    int (*comm_free)(MPI_Comm *);
    int (*comm_set_errhandler)(MPI_Comm, int);
    int (*allreduce)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
    int (*reduce_scatter_block)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
    int (*allgather)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
    int (*bcast)(void *, int, MPI_Datatype, int, MPI_Comm);
    int (*reduce)(const void *, void *, int, MPI_Datatype, MPI_Op, int, MPI_Comm);
    int (*op_create)(void (*)(void *, void *, int *, MPI_Datatype *), int, MPI_Op *);
} mpi;

struct ncclComm
{
    MPI_Comm comm;
    int rank;
    int nranks;
};
typedef struct ncclComm *ncclComm_t;

static const char magic[] = "adan-nccl-standin";
static char last_error[256];

static ncclResult_t fail(ncclResult_t result, const char *message)
{
    snprintf(last_error, sizeof last_error, "%s", message);
    return result;
}

static ncclResult_t load_mpi(void)
{
    if (mpi.library != NULL)
    {
        return ncclSuccess;
    }
    const char *configured = getenv("ADAN_MPI_LIBRARY");
    const char *candidates[] = {configured, "libmpi.so.12", "libmpich.so.12"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && mpi.library == NULL; i++)
    {
        if (candidates[i] != NULL && candidates[i][0] != '\0')
        {
            mpi.library = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
        }
    }
    if (mpi.library == NULL)
    {
        return fail(ncclSystemError, "stand-in: no MPICH-ABI MPI library could be opened");
    }
#define RESOLVE(field, symbol)                                                                     \
    if ((*(void **)&mpi.field = dlsym(mpi.library, symbol)) == NULL)                               \
    {                                                                                              \
        return fail(ncclSystemError, "stand-in: the MPI library lacks " symbol);                   \
    }
    RESOLVE(initialized, "MPI_Initialized")
    RESOLVE(comm_split, "MPI_Comm_split")
    RESOLVE(comm_size, "MPI_Comm_size")
    RESOLVE(comm_rank, "MPI_Comm_rank")
    RESOLVE(comm_free, "MPI_Comm_free")
    RESOLVE(comm_set_errhandler, "MPI_Comm_set_errhandler")
    RESOLVE(allreduce, "MPI_Allreduce")
    RESOLVE(reduce_scatter_block, "MPI_Reduce_scatter_block")
    RESOLVE(reduce, "MPI_Reduce")
    RESOLVE(allgather, "MPI_Allgather")
    RESOLVE(bcast, "MPI_Bcast")
    RESOLVE(op_create, "MPI_Op_create")
#undef RESOLVE
    return ncclSuccess;
}

static size_t element_size(ncclDataType_t type)
{
    switch (type)
    {
    case ncclInt8:
    case ncclUint8:
        return 1;
    case ncclFloat16:
    case ncclBfloat16:
        return 2;
    case ncclInt32:
    case ncclUint32:
    case ncclFloat32:
        return 4;
    case ncclInt64:
    case ncclUint64:
    case ncclFloat64:
        return 8;
    default:
        return 0;
    }
}

static int mpi_type(ncclDataType_t type, MPI_Datatype *out)
{
    switch (type)
    {
    case ncclInt8: *out = MPI_SIGNED_CHAR; return 1;
    case ncclUint8: *out = MPI_UNSIGNED_CHAR; return 1;
    case ncclInt32: *out = MPI_INT; return 1;
    case ncclUint32: *out = MPI_UNSIGNED; return 1;
    case ncclInt64: *out = MPI_LONG; return 1;
    case ncclUint64: *out = MPI_UNSIGNED_LONG; return 1;
    case ncclFloat32: *out = MPI_FLOAT; return 1;
    case ncclFloat64: *out = MPI_DOUBLE; return 1;
    /* MPI has no bf16: 16-bit words, summed by bf16_sum. */
    case ncclBfloat16: *out = MPI_UNSIGNED_SHORT; return 1;
    default: return 0;
    }
}

static int mpi_op(ncclRedOp_t op, MPI_Op *out)
{
    switch (op)
    {
    case ncclSum:
    case ncclAvg: *out = MPI_SUM; return 1;
    case ncclProd: *out = MPI_PROD; return 1;
    case ncclMax: *out = MPI_MAX; return 1;
    case ncclMin: *out = MPI_MIN; return 1;
    default: return 0;
    }
}

static ncclResult_t check_comm(ncclComm_t comm, size_t count)
{
    if (comm == NULL)
    {
        return fail(ncclInvalidArgument, "stand-in: comm is NULL");
    }
    if (count > 0x7fffffff)
    {
        return fail(ncclInvalidArgument, "stand-in: count exceeds MPI's int count");
    }
    return ncclSuccess;
}

static ncclResult_t mpi_result(int code, const char *call)
{
    if (code != 0)
    {
        snprintf(last_error, sizeof last_error, "stand-in: %s returned MPI error %d", call, code);
        return ncclSystemError;
    }
    return ncclSuccess;
}

static float bf16_widen(uint16_t value)
{
    uint32_t bits = (uint32_t)value << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even, as torch and NCCL round bf16. */
static uint16_t bf16_round(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if (value != value)
    {
        return (uint16_t)((bits >> 16) | 0x40);
    }
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

static void bf16_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++)
    {
        b[i] = bf16_round(bf16_widen(a[i]) + bf16_widen(b[i]));
    }
}

static MPI_Op bf16_sum_op;

/* NCCL divides by the rank count for ncclAvg; only floating types reach here (the binding refuses the others). */
static void divide(void *buffer, size_t count, ncclDataType_t type, int nranks)
{
    for (size_t i = 0; i < count; i++)
    {
        if (type == ncclFloat32)
        {
            ((float *)buffer)[i] /= (float)nranks;
        }
        else if (type == ncclFloat64)
        {
            ((double *)buffer)[i] /= (double)nranks;
        }
        else if (type == ncclBfloat16)
        {
            ((uint16_t *)buffer)[i] = bf16_round(bf16_widen(((uint16_t *)buffer)[i]) / (float)nranks);
        }
    }
}

int adanNcclStandIn(void) { return 1; }

/* What every reduction checks first: the communicator and the count, then the MPI datatype and operation it maps to. */
static ncclResult_t check_reduction(ncclComm_t comm, size_t count, ncclDataType_t datatype, ncclRedOp_t op, MPI_Datatype *type, MPI_Op *mop)
{
    ncclResult_t checked = check_comm(comm, count);
    if (checked != ncclSuccess)
    {
        return checked;
    }
    if (!mpi_type(datatype, type) || !mpi_op(op, mop))
    {
        return fail(ncclInvalidArgument, "stand-in: unsupported datatype or reduction");
    }
    if (datatype == ncclBfloat16)
    {
        if (op != ncclSum && op != ncclAvg)
        {
            return fail(ncclInvalidArgument, "stand-in: bf16 reduces with sum or avg only");
        }
        if (bf16_sum_op == 0 && mpi.op_create(bf16_sum, 1, &bf16_sum_op) != 0)
        {
            return fail(ncclSystemError, "stand-in: MPI_Op_create failed");
        }
        *mop = bf16_sum_op;
    }
    return ncclSuccess;
}

ncclResult_t ncclGetVersion(int *version)
{
    if (version == NULL)
    {
        return fail(ncclInvalidArgument, "stand-in: version is NULL");
    }
    const char *configured = getenv("NCCL_STANDIN_VERSION");
    *version = configured != NULL ? atoi(configured) : 21903;
    return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t result)
{
    switch (result)
    {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

const char *ncclGetLastError(ncclComm_t comm)
{
    (void)comm;
    return last_error;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    if (id == NULL)
    {
        return fail(ncclInvalidArgument, "stand-in: uniqueId is NULL");
    }
    memset(id, 0, sizeof *id);
    memcpy(id->internal, magic, sizeof magic);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t nonce = ((uint64_t)getpid() << 32) ^ (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 20);
    memcpy(id->internal + 32, &nonce, sizeof nonce);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank)
{
    if (comm == NULL)
    {
        return fail(ncclInvalidArgument, "stand-in: comm is NULL");
    }
    if (memcmp(id.internal, magic, sizeof magic) != 0)
    {
        return fail(ncclInvalidArgument, "stand-in: the unique id was not made by ncclGetUniqueId");
    }
    if (nranks < 1 || rank < 0 || rank >= nranks)
    {
        return fail(ncclInvalidArgument, "stand-in: rank must be in [0, nranks)");
    }
    ncclResult_t loaded = load_mpi();
    if (loaded != ncclSuccess)
    {
        return loaded;
    }
    int initialized = 0;
    mpi.initialized(&initialized);
    if (!initialized)
    {
        return fail(ncclInvalidUsage, "stand-in: MPI is not initialised");
    }
    uint64_t nonce;
    memcpy(&nonce, id.internal + 32, sizeof nonce);
    int color = (int)((nonce ^ (nonce >> 31)) & 0x3fffffff);
    MPI_Comm split;
    ncclResult_t result = mpi_result(mpi.comm_split(MPI_COMM_WORLD, color, rank, &split), "MPI_Comm_split");
    if (result != ncclSuccess)
    {
        return result;
    }
    mpi.comm_set_errhandler(split, MPI_ERRORS_RETURN);
    int size = 0, me = -1;
    mpi.comm_size(split, &size);
    mpi.comm_rank(split, &me);
    if (size != nranks || me != rank)
    {
        mpi.comm_free(&split);
        snprintf(last_error, sizeof last_error,
            "stand-in: %d of the %d ranks were given this unique id (rank %d is %d among them); every rank must get rank 0's id",
            size, nranks, rank, me);
        return ncclInvalidUsage;
    }
    struct ncclComm *created = calloc(1, sizeof *created);
    if (created == NULL)
    {
        mpi.comm_free(&split);
        return fail(ncclSystemError, "stand-in: out of memory");
    }
    created->comm = split;
    created->rank = rank;
    created->nranks = nranks;
    *comm = created;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    if (comm == NULL)
    {
        return fail(ncclInvalidArgument, "stand-in: comm is NULL");
    }
    ncclResult_t result = mpi_result(mpi.comm_free(&comm->comm), "MPI_Comm_free");
    free(comm);
    return result;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) { return ncclCommDestroy(comm); }

ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)
{
    ncclResult_t checked = check_comm(comm, 0);
    if (checked == ncclSuccess)
    {
        *count = comm->nranks;
    }
    return checked;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)
{
    ncclResult_t checked = check_comm(comm, 0);
    if (checked == ncclSuccess)
    {
        *rank = comm->rank;
    }
    return checked;
}

ncclResult_t ncclGroupStart(void) { return ncclSuccess; }

ncclResult_t ncclGroupEnd(void) { return ncclSuccess; }

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
    void *stream)
{
    (void)stream;
    MPI_Datatype type;
    MPI_Op mop;
    ncclResult_t checked = check_reduction(comm, count, datatype, op, &type, &mop);
    if (checked != ncclSuccess)
    {
        return checked;
    }
    ncclResult_t result = mpi_result(
        mpi.allreduce(sendbuff == recvbuff ? MPI_IN_PLACE : sendbuff, recvbuff, (int)count, type, mop, comm->comm), "MPI_Allreduce");
    if (result == ncclSuccess && op == ncclAvg)
    {
        divide(recvbuff, count, datatype, comm->nranks);
    }
    return result;
}

ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op,
    ncclComm_t comm, void *stream)
{
    (void)stream;
    MPI_Datatype type;
    MPI_Op mop;
    ncclResult_t checked = check_reduction(comm, recvcount * (size_t)(comm == NULL ? 1 : comm->nranks), datatype, op, &type, &mop);
    if (checked != ncclSuccess)
    {
        return checked;
    }
    size_t block = recvcount * element_size(datatype);
    int in_place = (const char *)recvbuff == (const char *)sendbuff + (size_t)comm->rank * block;
    ncclResult_t result;
    if (in_place)
    {
        /* MPI leaves the reduced block at the start of the buffer; NCCL leaves it in block rank. */
        result = mpi_result(mpi.reduce_scatter_block(MPI_IN_PLACE, (void *)sendbuff, (int)recvcount, type, mop, comm->comm), "MPI_Reduce_scatter_block");
        if (result == ncclSuccess && comm->rank != 0)
        {
            memmove(recvbuff, sendbuff, block);
        }
    }
    else
    {
        result = mpi_result(mpi.reduce_scatter_block(sendbuff, recvbuff, (int)recvcount, type, mop, comm->comm), "MPI_Reduce_scatter_block");
    }
    if (result == ncclSuccess && op == ncclAvg)
    {
        divide(recvbuff, recvcount, datatype, comm->nranks);
    }
    return result;
}

ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, ncclRedOp_t op, int root,
    ncclComm_t comm, void *stream)
{
    (void)stream;
    MPI_Datatype type;
    MPI_Op mop;
    ncclResult_t checked = check_reduction(comm, count, datatype, op, &type, &mop);
    if (checked != ncclSuccess)
    {
        return checked;
    }
    if (root < 0 || root >= comm->nranks)
    {
        return fail(ncclInvalidArgument, "stand-in: root must be in [0, nranks)");
    }
    /* MPI accepts MPI_IN_PLACE only at the root; elsewhere the send buffer is read and the receive buffer unused. */
    int in_place = sendbuff == recvbuff && comm->rank == root;
    ncclResult_t result = mpi_result(
        mpi.reduce(in_place ? MPI_IN_PLACE : sendbuff, recvbuff, (int)count, type, mop, root, comm->comm), "MPI_Reduce");
    if (result == ncclSuccess && op == ncclAvg && comm->rank == root)
    {
        divide(recvbuff, count, datatype, comm->nranks);
    }
    return result;
}

ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, ncclDataType_t datatype, ncclComm_t comm, void *stream)
{
    (void)stream;
    MPI_Datatype type;
    ncclResult_t checked = check_comm(comm, sendcount * (size_t)(comm == NULL ? 1 : comm->nranks));
    if (checked != ncclSuccess)
    {
        return checked;
    }
    if (!mpi_type(datatype, &type))
    {
        return fail(ncclInvalidArgument, "stand-in: unsupported datatype");
    }
    size_t block = sendcount * element_size(datatype);
    int in_place = (const char *)sendbuff == (const char *)recvbuff + (size_t)comm->rank * block;
    return mpi_result(in_place
        ? mpi.allgather(MPI_IN_PLACE, 0, type, recvbuff, (int)sendcount, type, comm->comm)
        : mpi.allgather(sendbuff, (int)sendcount, type, recvbuff, (int)sendcount, type, comm->comm), "MPI_Allgather");
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm, void *stream)
{
    (void)stream;
    MPI_Datatype type;
    ncclResult_t checked = check_comm(comm, count);
    if (checked != ncclSuccess)
    {
        return checked;
    }
    if (!mpi_type(datatype, &type))
    {
        return fail(ncclInvalidArgument, "stand-in: unsupported datatype");
    }
    if (root < 0 || root >= comm->nranks)
    {
        return fail(ncclInvalidArgument, "stand-in: root must be in [0, nranks)");
    }
    if (comm->rank == root && sendbuff != recvbuff)
    {
        memcpy(recvbuff, sendbuff, count * element_size(datatype));
    }
    return mpi_result(mpi.bcast(recvbuff, (int)count, type, root, comm->comm), "MPI_Bcast");
}
