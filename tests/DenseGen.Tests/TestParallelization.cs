using Xunit;

// The tests share one device (TestDevice). Launching the same ILGPU kernel from two threads at once is not safe on
// OpenCL (a kernel object's arguments are set, then it is enqueued; clSetKernelArg is not thread-safe per kernel
// object): under PoCL a conv test saw its launch's arguments replaced by another test's. So the test classes of
// this assembly run one after another; a DenseGen device, like an ILGPU accelerator, is driven by one thread at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
