using Adan.Coordinator.Domain;
using Adan.Coordinator.Protocol;
using Adan.Coordinator.V1;
using Grpc.Core;

namespace Adan.Coordinator.Services;

/// <summary>gRPC Schedule: the job's learning rate per step, computed by the pure <see cref="Adan.Sharded.Schedules.LearningRateSchedule"/>.</summary>
internal sealed class ScheduleService(JobRegistry jobs) : V1.Schedule.ScheduleBase
{
    public override Task<LearningRateReply> LearningRate(LearningRateRequest request, ServerCallContext context)
    {
        var schedule = jobs.GetSchedule(request.JobId);
        if (request.Step < 0)
        {
            throw CoordinatorException.InvalidArgument($"invalid step {request.Step} (must be >= 0)");
        }
        return Task.FromResult(new LearningRateReply
        {
            LearningRate = schedule.LearningRateAt(request.Step),
            PeakLearningRate = schedule.PeakLearningRate,
        });
    }

    public override Task<GetScheduleReply> GetSchedule(GetScheduleRequest request, ServerCallContext context)
    {
        var schedule = jobs.GetSchedule(request.JobId);
        return Task.FromResult(new GetScheduleReply
        {
            Schedule = ScheduleMapping.ToMessage(schedule),
            PeakLearningRate = schedule.PeakLearningRate,
            GlobalBatchSize = schedule.GlobalBatchSize,
        });
    }
}
