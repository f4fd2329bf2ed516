namespace DenseGen.Execution;

/// <summary>
/// Stochastic gradient descent as PyTorch's torch.optim.SGD: the paper's recipe is the default
/// (Nesterov momentum 0.9, weight decay 1e-4, applied to every parameter).
/// </summary>
/// <param name="LearningRate">The step size (the paper starts at 0.1).</param>
/// <param name="Momentum">Momentum factor.</param>
/// <param name="WeightDecay">L2 penalty added to the gradient.</param>
/// <param name="Nesterov">Nesterov momentum.</param>
public sealed record SgdOptions(float LearningRate, float Momentum = 0.9f, float WeightDecay = 1e-4f, bool Nesterov = true);
